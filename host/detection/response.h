// The response signal (`history_response`, docs/detection.md): how a client's update changes
// when the model moves. FLDetector (Zhang et al., "FLDetector: Defending Federated Learning
// Against Model Poisoning Attacks via Detecting Malicious Clients", KDD 2022) predicts each
// client's update from its previous one and the model change through an estimated Hessian and
// scores the prediction error. Departure: no Hessian is estimated. For an honest client the
// change of its update between two rounds is about -eta K H_i (w_t - w_s), and H_i is positive
// along the model's own descent direction, so the change points *against* the model change;
// a client that sends the negation of its training result (a sign flip, or any update that
// answers the model like ascent) answers with the opposite sign. The statistic is the cosine
// of the two changes in the count-sketch space the engine keeps per client (k = 256), z'd over
// each round's clients and averaged over the client's rounds: one round's noise (fresh
// mini-batches) sits inside the honest spread, the mean over rounds does not. Second departure:
// the model change is the mean of the sketches the server accepted in each round between, the
// client's own left out (engine/stages.cc); with its own update in it, a client's answer held a
// negative term only while it was accepted, and rejected clients drifted upwards as a group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "detection/signals.h"

namespace fedguard::detection {

/// A client's response needs at least this many rounds with a response (each one a round it
/// took part in after an earlier one within kResponseMaxGap rounds).
constexpr std::uint64_t kResponseMinRounds = 3;
/// The model change between a client's two updates is the sum of the aggregates in between;
/// farther apart than this many rounds the linear response no longer holds and none is taken.
constexpr std::size_t kResponseMaxGap = 8;
/// One round's z is clamped to +-this: no single round decides a client's mean (and a state
/// file's sums stay bounded).
constexpr double kResponseZLimit = 50.0;
/// Floor of the scale of the clients' mean responses (in units of one round's z).
constexpr double kResponseScaleFloor = 0.05;

/// cos(now - before, model_change) over k values; NaN when either vector is 0 (no change, or
/// no model change) or a value is not finite.
double response_cosine(const double* now, const double* before, const double* model_change,
                       std::size_t k);

/// One round's response z's: the robust z of each finite cosine over the finite ones (median
/// and 1.4826 MAD), clamped to +-kResponseZLimit; all NaN when fewer than kMinClients are finite or
/// their MAD is 0 (no spread to calibrate against).
std::vector<double> round_response_z(const std::vector<double>& cosines);

/// The signal over the clients' mean response z's (each over at least kResponseMinRounds
/// rounds): value = the mean, z = its robust z over the clients (scale floored at
/// kResponseScaleFloor), upper tail ("history_response").
SignalValues history_response_signal(const std::vector<double>& mean_response);

}  // namespace fedguard::detection
