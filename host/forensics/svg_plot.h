// A small SVG plotting helper for the forensics report: line, scatter, step and bar series on
// linear axes with ticks, a title, axis labels and a legend. Output is a self-contained <svg>
// element (no scripts, no external resources) to inline in HTML.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace fedguard::forensics {

/// Escapes &, <, >, " and ' for HTML / SVG text and attributes.
std::string html_escape(const std::string& text);

struct Series {
  enum class Kind { kLine, kPoints, kStep, kBars };
  explicit Series(Kind k = Kind::kLine) : kind(k) {}
  Kind kind;
  std::string label;  ///< shown in the legend; empty: not in the legend
  std::string color = "#1f77b4";
  double width = 1.5;  ///< stroke width (lines) or marker radius (points)
  double opacity = 1.0;
  std::string marker = "circle";  ///< points: "circle" or "cross"
  std::vector<double> x, y;       ///< non-finite points break a line / are skipped
  std::vector<double> base;       ///< bars: the bottom of each bar (empty: 0); stacks bars
  double bar_width = 0.8;         ///< bars: width in x units
  std::string tooltip;            ///< <title> of the series' element
};

class SvgPlot {
 public:
  SvgPlot(double width, double height) : width_(width), height_(height) {}
  void title(std::string t) { title_ = std::move(t); }
  void x_label(std::string t) { x_label_ = std::move(t); }
  void y_label(std::string t) { y_label_ = std::move(t); }
  /// Fixes an axis range; unset ranges cover the data (with a little margin for y).
  void x_range(double lo, double hi) {
    x_lo_ = lo;
    x_hi_ = hi;
    x_fixed_ = true;
  }
  void y_range(double lo, double hi) {
    y_lo_ = lo;
    y_hi_ = hi;
    y_fixed_ = true;
  }
  /// A dashed straight line between two data points (e.g. the ROC diagonal).
  void add_guide(double x0, double y0, double x1, double y1, std::string color = "#999");
  /// Free text at a data point.
  void add_note(double x, double y, std::string text, std::string color = "#333");
  void add(Series s) { series_.push_back(std::move(s)); }
  std::string render() const;

 private:
  struct Guide {
    double x0, y0, x1, y1;
    std::string color;
  };
  struct Note {
    double x, y;
    std::string text, color;
  };
  double width_, height_;
  std::string title_, x_label_, y_label_;
  double x_lo_ = 0, x_hi_ = 1, y_lo_ = 0, y_hi_ = 1;
  bool x_fixed_ = false, y_fixed_ = false;
  std::vector<Series> series_;
  std::vector<Guide> guides_;
  std::vector<Note> notes_;
};

/// "Nice" tick values (1, 2, 5 x 10^k steps) covering [lo, hi], about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace fedguard::forensics
