#include "forensics/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace fedguard::forensics {
namespace {

constexpr double kLeft = 64, kRight = 16, kTop = 30, kBottom = 44;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v, double step) {
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  } else {
    const int decimals =
        step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || count < 1) return {lo};
  const double raw = (hi - lo) / count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (double t = first; t <= hi + step * 1e-9 && ticks.size() < 50; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

void SvgPlot::add_guide(double x0, double y0, double x1, double y1, std::string color) {
  guides_.push_back({x0, y0, x1, y1, std::move(color)});
}

void SvgPlot::add_note(double x, double y, std::string text, std::string color) {
  notes_.push_back({x, y, std::move(text), std::move(color)});
}

std::string SvgPlot::render() const {
  // Data ranges.
  double xlo = x_lo_, xhi = x_hi_, ylo = y_lo_, yhi = y_hi_;
  if (!x_fixed_ || !y_fixed_) {
    double ax = std::numeric_limits<double>::infinity(), bx = -ax, ay = ax, by = -ax;
    for (const Series& s : series_) {
      for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        const double half = s.kind == Series::Kind::kBars ? s.bar_width / 2 : 0;
        ax = std::min(ax, s.x[i] - half);
        bx = std::max(bx, s.x[i] + half);
        const double b =
            s.kind == Series::Kind::kBars ? (i < s.base.size() ? s.base[i] : 0.0) : s.y[i];
        const double top = s.kind == Series::Kind::kBars ? b + s.y[i] : s.y[i];
        ay = std::min({ay, b, top});
        by = std::max({by, b, top});
      }
    }
    if (!std::isfinite(ax)) ax = 0, bx = 1, ay = 0, by = 1;
    if (bx <= ax) bx = ax + 1;
    if (by <= ay) {
      const double pad = std::max(1.0, std::fabs(ay)) * 0.5;
      ay -= pad;
      by += pad;
    } else {
      const double pad = (by - ay) * 0.05;
      by += pad;
      if (ay != 0) ay -= pad;
    }
    if (!x_fixed_) xlo = ax, xhi = bx;
    if (!y_fixed_) ylo = ay, yhi = by;
  }
  const double pw = width_ - kLeft - kRight, ph = height_ - kTop - kBottom;
  auto sx = [&](double x) { return kLeft + (x - xlo) / (xhi - xlo) * pw; };
  auto sy = [&](double y) { return kTop + ph - (y - ylo) / (yhi - ylo) * ph; };
  auto clampy = [&](double y) { return std::min(std::max(y, ylo), yhi); };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width_) << "\" height=\""
    << num(height_) << "\" viewBox=\"0 0 " << num(width_) << ' ' << num(height_)
    << "\" font-family=\"sans-serif\" font-size=\"11\" class=\"plot\">\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << num(width_) << "\" height=\"" << num(height_)
    << "\" fill=\"#fff\"/>\n";
  if (!title_.empty()) {
    o << "<text x=\"" << num(width_ / 2)
      << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
      << html_escape(title_) << "</text>\n";
  }
  // Grid and ticks.
  const auto xt = nice_ticks(xlo, xhi, std::max(2, static_cast<int>(pw / 80)));
  const auto yt = nice_ticks(ylo, yhi, std::max(2, static_cast<int>(ph / 40)));
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  for (double t : xt) {
    if (t < xlo || t > xhi) continue;
    o << "<line x1=\"" << num(sx(t)) << "\" y1=\"" << num(kTop) << "\" x2=\"" << num(sx(t))
      << "\" y2=\"" << num(kTop + ph) << "\" stroke=\"#eee\"/>";
    o << "<text x=\"" << num(sx(t)) << "\" y=\"" << num(kTop + ph + 14)
      << "\" text-anchor=\"middle\">" << tick_label(t, xstep) << "</text>\n";
  }
  for (double t : yt) {
    if (t < ylo || t > yhi) continue;
    o << "<line x1=\"" << num(kLeft) << "\" y1=\"" << num(sy(t)) << "\" x2=\"" << num(kLeft + pw)
      << "\" y2=\"" << num(sy(t)) << "\" stroke=\"#eee\"/>";
    o << "<text x=\"" << num(kLeft - 4) << "\" y=\"" << num(sy(t) + 4) << "\" text-anchor=\"end\">"
      << tick_label(t, ystep) << "</text>\n";
  }
  o << "<rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop) << "\" width=\"" << num(pw)
    << "\" height=\"" << num(ph) << "\" fill=\"none\" stroke=\"#888\"/>\n";
  if (!x_label_.empty()) {
    o << "<text x=\"" << num(kLeft + pw / 2) << "\" y=\"" << num(height_ - 8)
      << "\" text-anchor=\"middle\">" << html_escape(x_label_) << "</text>\n";
  }
  if (!y_label_.empty()) {
    o << "<text transform=\"translate(14," << num(kTop + ph / 2)
      << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(y_label_) << "</text>\n";
  }
  // Clip the data to the plot area.
  static int clip_counter = 0;
  const int clip_id = ++clip_counter;
  o << "<clipPath id=\"c" << clip_id << "\"><rect x=\"" << num(kLeft) << "\" y=\"" << num(kTop)
    << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
    << "\"/></clipPath>\n<g clip-path=\"url(#c" << clip_id << ")\">\n";
  for (const Guide& g : guides_) {
    o << "<line x1=\"" << num(sx(g.x0)) << "\" y1=\"" << num(sy(g.y0)) << "\" x2=\""
      << num(sx(g.x1)) << "\" y2=\"" << num(sy(g.y1)) << "\" stroke=\"" << html_escape(g.color)
      << "\" stroke-dasharray=\"4 3\"/>\n";
  }
  for (const Series& s : series_) {
    const std::string color = html_escape(s.color);
    const std::string tip =
        s.tooltip.empty() ? "" : "<title>" + html_escape(s.tooltip) + "</title>";
    const std::size_t count = std::min(s.x.size(), s.y.size());
    if (s.kind == Series::Kind::kLine || s.kind == Series::Kind::kStep) {
      o << "<path fill=\"none\" stroke=\"" << color << "\" stroke-width=\"" << num(s.width)
        << "\" stroke-opacity=\"" << num(s.opacity) << "\" d=\"";
      bool pen = false;
      double last_y = 0;
      for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          pen = false;
          continue;
        }
        const double y = clampy(s.y[i]);
        if (pen && s.kind == Series::Kind::kStep)
          o << 'L' << num(sx(s.x[i])) << ' ' << num(sy(last_y));
        o << (pen ? 'L' : 'M') << num(sx(s.x[i])) << ' ' << num(sy(y));
        pen = true;
        last_y = y;
      }
      o << "\">" << tip << "</path>\n";
    } else if (s.kind == Series::Kind::kPoints) {
      o << "<g fill=\"" << color << "\" stroke=\"" << color << "\" fill-opacity=\""
        << num(s.opacity) << "\">" << tip;
      for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        const double x = sx(s.x[i]), y = sy(clampy(s.y[i])), r = s.width;
        if (s.marker == "cross") {
          o << "<path d=\"M" << num(x - r) << ' ' << num(y - r) << 'L' << num(x + r) << ' '
            << num(y + r) << 'M' << num(x - r) << ' ' << num(y + r) << 'L' << num(x + r) << ' '
            << num(y - r) << "\" stroke-width=\"1.5\"/>";
        } else {
          o << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << num(r) << "\"/>";
        }
      }
      o << "</g>\n";
    } else {
      o << "<g fill=\"" << color << "\" fill-opacity=\"" << num(s.opacity) << "\">" << tip;
      for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        const double b = i < s.base.size() ? s.base[i] : 0.0;
        const double y0 = sy(clampy(b)), y1 = sy(clampy(b + s.y[i]));
        const double x0 = sx(s.x[i] - s.bar_width / 2), x1 = sx(s.x[i] + s.bar_width / 2);
        o << "<rect x=\"" << num(x0) << "\" y=\"" << num(std::min(y0, y1)) << "\" width=\""
          << num(std::max(0.5, x1 - x0)) << "\" height=\"" << num(std::fabs(y1 - y0)) << "\"/>";
      }
      o << "</g>\n";
    }
  }
  for (const Note& n : notes_) {
    o << "<text x=\"" << num(sx(n.x)) << "\" y=\"" << num(sy(n.y)) << "\" fill=\""
      << html_escape(n.color) << "\">" << html_escape(n.text) << "</text>\n";
  }
  o << "</g>\n";
  // Legend, top-right inside the plot, on a translucent white box.
  std::size_t longest = 0, entries = 0;
  for (const Series& s : series_) {
    if (s.label.empty()) continue;
    longest = std::max(longest, s.label.size());
    ++entries;
  }
  const double box_w = 6.2 * static_cast<double>(longest) + 24;
  const double lx = kLeft + pw - box_w - 4;
  if (entries > 0) {
    o << "<rect x=\"" << num(lx - 4) << "\" y=\"" << num(kTop + 2) << "\" width=\"" << num(box_w)
      << "\" height=\"" << num(14.0 * static_cast<double>(entries) + 6)
      << "\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ddd\"/>\n";
  }
  double ly = kTop + 14;
  for (const Series& s : series_) {
    if (s.label.empty()) continue;
    o << "<rect x=\"" << num(lx) << "\" y=\"" << num(ly - 9)
      << "\" width=\"10\" height=\"10\" fill=\"" << html_escape(s.color) << "\"/><text x=\""
      << num(lx + 14) << "\" y=\"" << num(ly) << "\">" << html_escape(s.label) << "</text>\n";
    ly += 14;
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace fedguard::forensics
