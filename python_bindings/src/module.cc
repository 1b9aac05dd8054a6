// fedguard._core: the pybind11 module behind the `fedguard` Python package.
//
// It only translates: numpy arrays, DLPack producers (torch, cupy, jax, numpy) and lists of
// per-client arrays become a fedguard::UpdateView that points at the caller's memory (no copy,
// except where a client is given as a list of per-layer arrays, which are concatenated);
// Engine::process_round runs with the GIL released; the result comes back as numpy arrays (the
// aggregate without a copy). fedguard::Error becomes a Python exception by category.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "dlpack.h"
#include "fedguard/attacks.h"
#include "fedguard/fedguard.h"
#include "fedguard/registry.h"
#include "identity_bindings.h"

namespace py = pybind11;

namespace fedguard::python {
namespace {

// ---------------------------------------------------------------------------------------------
// Exceptions: fedguard.Error and one subclass per category, each also deriving from the
// built-in exception a Python caller expects (ValueError for invalid input, ...).

PyObject* g_error = nullptr;
PyObject* g_invalid_input = nullptr;
PyObject* g_unsupported = nullptr;
PyObject* g_out_of_memory = nullptr;
PyObject* g_device_failure = nullptr;
PyObject* g_io = nullptr;

PyObject* exception_for(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kInvalidInput:
      return g_invalid_input;
    case ErrorCategory::kUnsupported:
      return g_unsupported;
    case ErrorCategory::kOutOfMemory:
      return g_out_of_memory;
    case ErrorCategory::kDeviceFailure:
      return g_device_failure;
    case ErrorCategory::kIo:
      return g_io;
  }
  return g_error;
}

PyObject* add_exception(py::module_& m, const char* name, PyObject* builtin, const char* doc) {
  const std::string qualified = std::string("fedguard.") + name;
  PyObject* bases = builtin ? PyTuple_Pack(2, g_error, builtin) : nullptr;
  PyObject* type =
      PyErr_NewExceptionWithDoc(qualified.c_str(), doc, builtin ? bases : PyExc_Exception, nullptr);
  Py_XDECREF(bases);
  if (!type) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(type));  // the module keeps a reference
  Py_DECREF(type);
  return type;
}

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorCategory::kInvalidInput, message);
}

// ---------------------------------------------------------------------------------------------
// What fedguard needs to know of one array, whatever produced it.

struct ArrayDesc {
  const unsigned char* data = nullptr;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements
  std::size_t itemsize = 0;
  bool supported = false;  // float32, float16 or bfloat16
  DType dtype = DType::kFloat32;
  std::string dtype_text;
  Location location;

  std::size_t count() const {
    std::size_t c = 1;
    for (auto s : shape) c *= static_cast<std::size_t>(s);
    return c;
  }
  // C-contiguous (dimensions of extent 1 may have any stride).
  bool contiguous() const {
    std::int64_t expected = 1;
    for (std::size_t k = shape.size(); k-- > 0;) {
      if (shape[k] != 1 && strides[k] != expected) return false;
      expected *= shape[k];
    }
    return true;
  }
  std::string shape_text() const {
    std::ostringstream s;
    s << "(";
    for (std::size_t k = 0; k < shape.size(); ++k) s << (k ? ", " : "") << shape[k];
    s << (shape.size() == 1 ? ",)" : ")");
    return s.str();
  }
};

std::string location_text(Location l) {
  return l.kind == MemoryKind::kHost ? "cpu" : "cuda:" + std::to_string(l.device);
}

void require_supported(const ArrayDesc& a, const std::string& what) {
  if (!a.supported)
    invalid(what + ": dtype " + a.dtype_text +
            " is not supported (float32, float16, bfloat16); convert it first, e.g. "
            "x.astype(numpy.float32)");
}

// Owns a consumed DLPack tensor: calls the producer's deleter (with the GIL held) when done.
class DlpackOwner {
 public:
  explicit DlpackOwner(DLManagedTensor* t) : legacy_(t) {}
  explicit DlpackOwner(DLManagedTensorVersioned* t) : versioned_(t) {}
  DlpackOwner(const DlpackOwner&) = delete;
  DlpackOwner& operator=(const DlpackOwner&) = delete;
  ~DlpackOwner() {
    if (legacy_ && legacy_->deleter) legacy_->deleter(legacy_);
    if (versioned_ && versioned_->deleter) versioned_->deleter(versioned_);
  }

 private:
  DLManagedTensor* legacy_ = nullptr;
  DLManagedTensorVersioned* versioned_ = nullptr;
};

// Everything the UpdateView points into, kept alive until the round is done. Destroyed with the
// GIL held (it releases Python references and calls DLPack deleters).
struct Input {
  std::vector<py::object> keep_alive;
  std::vector<std::unique_ptr<DlpackOwner>> dlpack;
  std::vector<std::vector<unsigned char>> copies;  // concatenated per-layer lists
  std::vector<float> reference_copy;
  UpdateView view;
  const float* reference = nullptr;
  bool copied = false;
  std::string source;  // "numpy", "dlpack" or "list"
};

ArrayDesc describe_numpy(const py::array& a) {
  ArrayDesc d;
  d.data = static_cast<const unsigned char*>(a.data());
  d.itemsize = static_cast<std::size_t>(a.itemsize());
  const py::dtype dt = a.dtype();
  const std::string name = py::str(dt.attr("name"));
  const bool native = dt.attr("isnative").cast<bool>();
  d.dtype_text = native ? name : name + " (non-native byte order)";
  if (native && dt.kind() == 'f' && d.itemsize == 4) {
    d.supported = true, d.dtype = DType::kFloat32;
  } else if (native && dt.kind() == 'f' && d.itemsize == 2) {
    d.supported = true, d.dtype = DType::kFloat16;
  } else if (name == "bfloat16" && d.itemsize == 2) {  // ml_dtypes.bfloat16
    d.supported = true, d.dtype = DType::kBFloat16;
  }
  for (py::ssize_t k = 0; k < a.ndim(); ++k) {
    d.shape.push_back(a.shape(k));
    const auto stride = a.strides(k);
    if (d.itemsize == 0 || stride % static_cast<py::ssize_t>(d.itemsize) != 0)
      invalid("array stride of " + std::to_string(stride) +
              " bytes is not a multiple of the element size " + std::to_string(d.itemsize));
    d.strides.push_back(stride / static_cast<py::ssize_t>(d.itemsize ? d.itemsize : 1));
  }
  return d;
}

void describe_dl_tensor(const DLTensor& t, ArrayDesc& d) {
  switch (t.device.device_type) {
    case kDLCPU:
    case kDLCUDAHost:
    case kDLROCMHost:
      d.location = Location{MemoryKind::kHost, 0};
      break;
    case kDLCUDA:
    case kDLCUDAManaged:
      d.location = Location{MemoryKind::kCuda, t.device.device_id};
      break;
    default:
      invalid("DLPack device type " + std::to_string(t.device.device_type) +
              " is not supported (CPU, CUDA host and CUDA memory are)");
  }
  const DLDataType dt = t.dtype;
  d.itemsize = (static_cast<std::size_t>(dt.bits) * dt.lanes + 7) / 8;
  if (dt.lanes == 1 && dt.code == kDLFloat && dt.bits == 32) {
    d.supported = true, d.dtype = DType::kFloat32;
  } else if (dt.lanes == 1 && dt.code == kDLFloat && dt.bits == 16) {
    d.supported = true, d.dtype = DType::kFloat16;
  } else if (dt.lanes == 1 && dt.code == kDLBfloat && dt.bits == 16) {
    d.supported = true, d.dtype = DType::kBFloat16;
  }
  static const char* const kCodeNames[] = {"int",    "uint",    "float", "handle",
                                           "bfloat", "complex", "bool"};
  d.dtype_text =
      (dt.code < 7 ? std::string(kCodeNames[dt.code]) : "code" + std::to_string(dt.code)) +
      std::to_string(dt.bits) + (dt.lanes == 1 ? "" : "x" + std::to_string(dt.lanes));
  d.data = static_cast<const unsigned char*>(t.data) + t.byte_offset;
  d.shape.assign(t.shape, t.shape + t.ndim);
  if (t.strides) {
    d.strides.assign(t.strides, t.strides + t.ndim);
  } else {
    d.strides.assign(t.ndim, 1);
    for (int k = t.ndim - 1; k > 0; --k) d.strides[k - 1] = d.strides[k] * d.shape[k];
  }
}

ArrayDesc describe_dlpack(py::handle obj, Input& in) {
  py::object o = py::reinterpret_borrow<py::object>(obj);
  // torch refuses to export a tensor that requires grad; detach() shares its storage.
  if (py::hasattr(o, "requires_grad") && py::hasattr(o, "detach") &&
      py::bool_(o.attr("requires_grad")))
    o = o.attr("detach")();
  py::object capsule;
  try {  // ask for a versioned (DLPack >= 1.0) capsule; older producers take no keywords
    capsule = o.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    capsule = o.attr("__dlpack__")();
  }
  PyObject* c = capsule.ptr();
  const DLTensor* tensor = nullptr;
  if (PyCapsule_IsValid(c, "dltensor_versioned")) {
    auto* t = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, "dltensor_versioned"));
    if (PyCapsule_SetName(c, "used_dltensor_versioned") != 0) throw py::error_already_set();
    in.dlpack.push_back(std::make_unique<DlpackOwner>(t));  // from here on we call the deleter
    if (t->version.major != 1)
      invalid("DLPack version " + std::to_string(t->version.major) + "." +
              std::to_string(t->version.minor) + " is not supported (1.x is)");
    tensor = &t->dl_tensor;
    if (t->flags & kDLPackFlagIsCopied) in.copied = true;  // the producer made a copy for us
  } else if (PyCapsule_IsValid(c, "dltensor")) {
    auto* t = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    if (PyCapsule_SetName(c, "used_dltensor") != 0) throw py::error_already_set();
    in.dlpack.push_back(std::make_unique<DlpackOwner>(t));
    tensor = &t->dl_tensor;
  } else {
    invalid("__dlpack__() did not return an unused DLPack capsule");
  }
  ArrayDesc d;
  describe_dl_tensor(*tensor, d);
  in.keep_alive.push_back(o);
  return d;
}

// Any array-like: numpy arrays directly, other DLPack producers through DLPack, anything else
// through numpy.asarray (which copies where the object has no buffer).
ArrayDesc describe_array(py::handle obj, Input& in) {
  if (py::isinstance<py::array>(obj)) {
    in.keep_alive.push_back(py::reinterpret_borrow<py::object>(obj));
    return describe_numpy(py::reinterpret_borrow<py::array>(obj));
  }
  if (py::hasattr(obj, "__dlpack__")) return describe_dlpack(obj, in);
  if (PyFloat_Check(obj.ptr()) || PyLong_Check(obj.ptr()))
    invalid("expected an array, got a Python number; pass a numpy array or a tensor");
  py::object a = py::module_::import("numpy").attr("asarray")(obj);
  in.keep_alive.push_back(a);
  return describe_numpy(py::reinterpret_borrow<py::array>(a));
}

// ---------------------------------------------------------------------------------------------
// Updates: a 2-D block, or one entry per client (an array, or a list of per-layer arrays).

void build_block(const ArrayDesc& a, Input& in) {
  if (a.shape.size() != 2)
    invalid(
        "updates must be a 2-D array (n clients x d parameters) or a list of per-client arrays, "
        "got a " +
        std::to_string(a.shape.size()) + "-D array of shape " + a.shape_text());
  require_supported(a, "updates");
  const std::size_t n = static_cast<std::size_t>(a.shape[0]),
                    d = static_cast<std::size_t>(a.shape[1]);
  // An empty array's strides mean nothing (numpy gives 0 for some); the engine reports n = 0
  // or d = 0 itself.
  if (n == 0 || d == 0) {
    in.view = UpdateView(a.data, n, d, a.dtype, a.location, d);
    return;
  }
  if (d > 1 && a.strides[1] != 1)
    invalid("updates must be contiguous along the parameter axis (element stride 1), got stride " +
            std::to_string(a.strides[1]) +
            "; pass numpy.ascontiguousarray(x) or x.contiguous() (which copies)");
  const std::int64_t row_stride = a.strides[0];
  if (n <= 1 || row_stride >= static_cast<std::int64_t>(d)) {
    const std::size_t stride = n <= 1 ? d : static_cast<std::size_t>(row_stride);
    in.view = UpdateView(a.data, n, d, a.dtype, a.location, stride);
    return;
  }
  // Rows that overlap or run backwards (negative or small row strides): one pointer per row.
  std::vector<ClientUpdate> rows(n);
  for (std::size_t i = 0; i < n; ++i)
    rows[i] = ClientUpdate{
        a.data + static_cast<std::int64_t>(i) * row_stride * static_cast<std::int64_t>(a.itemsize),
        d, a.dtype};
  in.view = UpdateView::per_client(std::move(rows), d, a.dtype, a.location);
}

// One client given as a list of per-layer arrays: flattened in order. Adjacent layers of one
// dtype (views of one buffer) are used in place; otherwise they are concatenated into one
// buffer of their dtype, or of float32 when the layers mix dtypes.
ClientUpdate build_layers(py::handle layers, std::size_t client, Location& location,
                          bool& have_location, Input& in) {
  std::vector<ArrayDesc> parts;
  std::size_t total = 0;
  std::size_t k = 0;
  for (py::handle layer : layers) {
    const std::string what = "client " + std::to_string(client) + ", layer " + std::to_string(k++);
    if (py::isinstance<py::list>(layer) || py::isinstance<py::tuple>(layer))
      invalid(what + ": expected an array, got a nested list");
    ArrayDesc a = describe_array(layer, in);
    require_supported(a, what);
    if (a.location.kind != MemoryKind::kHost)
      throw Error(
          ErrorCategory::kUnsupported,
          what + ": per-layer lists are concatenated on the host and must be in host memory, got " +
              location_text(a.location) + "; flatten each client on its device first");
    if (!a.contiguous())
      invalid(what + ": layer of shape " + a.shape_text() + " is not contiguous");
    total += a.count();
    parts.push_back(std::move(a));
  }
  const Location host{};
  if (!have_location) location = host, have_location = true;
  if (location.kind != MemoryKind::kHost)
    invalid("client " + std::to_string(client) + " is in host memory but client 0 is on " +
            location_text(location) + "; all updates of a round must be in one place");
  if (parts.empty()) return ClientUpdate{nullptr, 0, DType::kFloat32};
  bool same_dtype = true, adjacent = true;
  for (std::size_t p = 1; p < parts.size(); ++p) {
    same_dtype = same_dtype && parts[p].dtype == parts[0].dtype;
    adjacent = adjacent &&
               parts[p].data == parts[p - 1].data + parts[p - 1].count() * parts[p - 1].itemsize;
  }
  if (same_dtype && adjacent) return ClientUpdate{parts[0].data, total, parts[0].dtype};
  const DType out = same_dtype ? parts[0].dtype : DType::kFloat32;
  std::vector<unsigned char> buffer(total * dtype_size(out));
  std::size_t offset = 0;
  for (const ArrayDesc& a : parts) {
    if (a.dtype == out)
      std::memcpy(buffer.data() + offset * dtype_size(out), a.data, a.count() * a.itemsize);
    else
      convert_to_float(a.dtype, a.data, reinterpret_cast<float*>(buffer.data()) + offset,
                       a.count());
    offset += a.count();
  }
  in.copies.push_back(std::move(buffer));
  in.copied = true;
  return ClientUpdate{in.copies.back().data(), total, out};
}

template <typename T>
T most_common(const std::vector<T>& values) {               // ties go to the value seen first
  std::map<T, std::pair<std::size_t, std::size_t>> counts;  // value -> (count, first index)
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto [it, inserted] = counts.emplace(values[i], std::make_pair(std::size_t{0}, i));
    ++it->second.first;
  }
  auto best = counts.begin();
  for (auto it = counts.begin(); it != counts.end(); ++it)
    if (it->second.first > best->second.first ||
        (it->second.first == best->second.first && it->second.second < best->second.second))
      best = it;
  return best->first;
}

void build_per_client(const py::sequence& clients, std::optional<std::size_t> expected_length,
                      Input& in) {
  const std::size_t n = py::len(clients);
  std::vector<ClientUpdate> rows(n);
  Location location;
  bool have_location = false;
  std::vector<std::size_t> missing;  // None: the client sent nothing (rejected as missing_data)
  for (std::size_t i = 0; i < n; ++i) {
    py::handle item = clients[i];
    if (item.is_none()) {
      missing.push_back(i);
      continue;
    }
    if (py::isinstance<py::list>(item) || py::isinstance<py::tuple>(item)) {
      rows[i] = build_layers(item, i, location, have_location, in);
      continue;
    }
    const std::string what = "client " + std::to_string(i);
    const ArrayDesc a = describe_array(item, in);
    require_supported(a, what);
    if (!have_location) location = a.location, have_location = true;
    if (a.location.kind != location.kind || a.location.device != location.device)
      invalid(what + " is on " + location_text(a.location) + " but client 0 is on " +
              location_text(location) + "; all updates of a round must be in one place");
    if (!a.contiguous())
      invalid(
          what + ": update of shape " + a.shape_text() +
          " is not contiguous; pass numpy.ascontiguousarray(x) or x.contiguous() (which copies)");
    rows[i] = ClientUpdate{a.data, a.count(), a.dtype};
  }
  // The round's d and dtype: as given, else those of most clients (a client that disagrees is
  // rejected by the engine as wrong_length / wrong_dtype).
  std::vector<std::size_t> lengths;
  std::vector<int> dtypes;
  for (std::size_t i = 0, next_missing = 0; i < n; ++i) {
    if (next_missing < missing.size() && missing[next_missing] == i) {
      ++next_missing;
      continue;
    }
    lengths.push_back(rows[i].length), dtypes.push_back(static_cast<int>(rows[i].dtype));
  }
  const std::size_t d =
      expected_length ? *expected_length : (lengths.empty() ? 0 : most_common(lengths));
  const DType dtype = dtypes.empty() ? DType::kFloat32 : static_cast<DType>(most_common(dtypes));
  for (std::size_t i : missing) rows[i] = ClientUpdate{nullptr, d, dtype};
  in.view = UpdateView::per_client(std::move(rows), d, dtype, location);
}

void build_updates(py::handle updates, std::optional<std::size_t> expected_length, Input& in) {
  if (py::isinstance<py::list>(updates) || py::isinstance<py::tuple>(updates)) {
    in.source = "list";
    build_per_client(py::reinterpret_borrow<py::sequence>(updates), expected_length, in);
    return;
  }
  in.source = py::isinstance<py::array>(updates)   ? "numpy"
              : py::hasattr(updates, "__dlpack__") ? "dlpack"
                                                   : "numpy";
  const ArrayDesc a = describe_array(updates, in);
  build_block(a, in);
  if (expected_length && *expected_length != in.view.cols())
    invalid("expected updates of length " + std::to_string(*expected_length) +
            ", got a block of d=" + std::to_string(in.view.cols()));
}

void build_reference(py::handle reference, Input& in) {
  if (reference.is_none()) return;
  const ArrayDesc a = describe_array(reference, in);
  require_supported(a, "reference");
  if (a.location.kind != MemoryKind::kHost)
    throw Error(ErrorCategory::kUnsupported,
                "the reference must be in host memory, got " + location_text(a.location));
  if (!a.contiguous()) invalid("reference of shape " + a.shape_text() + " is not contiguous");
  if (a.count() != in.view.cols())
    invalid("reference has " + std::to_string(a.count()) + " elements but the round's d is " +
            std::to_string(in.view.cols()));
  if (a.dtype == DType::kFloat32) {
    in.reference = reinterpret_cast<const float*>(a.data);
    return;
  }
  in.reference_copy.resize(a.count());
  convert_to_float(a.dtype, a.data, in.reference_copy.data(), a.count());
  in.reference = in.reference_copy.data();
}

// ---------------------------------------------------------------------------------------------
// Results.

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& values) {  // no copy: the array owns the vector
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({owned->size()}, {sizeof(T)}, owned->data(), owner);
}

py::dict rejection_dict(const Rejection& r) {
  py::dict e;
  e["client"] = r.client;
  e["id"] = r.id;
  e["code"] = reason_code_name(r.code);
  e["stage"] = stage_name(r.stage);
  e["rule"] = r.rule;
  e["detail"] = r.detail;
  py::dict values;
  for (const auto& [name, v] : r.values) values[py::str(name)] = v;
  e["values"] = values;
  return e;
}

class PyRoundResult {
 public:
  explicit PyRoundResult(RoundResult&& r)
      : r_(std::move(r)), aggregate_(to_numpy(std::move(r_.aggregate))) {}

  std::size_t n() const { return r_.n; }
  std::size_t d() const { return r_.d; }
  bool linear() const { return r_.linear; }
  double noise_sigma() const { return r_.noise_sigma; }
  py::array accepted() const {
    py::array_t<bool> a(static_cast<py::ssize_t>(r_.accepted.size()));
    auto m = a.mutable_unchecked<1>();
    for (std::size_t i = 0; i < r_.accepted.size(); ++i) m(i) = r_.accepted[i] != 0;
    return std::move(a);
  }
  py::array weights() const { return py::array_t<double>(r_.weights.size(), r_.weights.data()); }
  py::dict scores() const {
    py::dict out;
    for (const auto& [name, values] : r_.scores)
      out[py::str(name)] = py::array_t<double>(values.size(), values.data());
    return out;
  }
  py::dict reasons() const {
    py::dict out;
    for (const auto& [index, text] : r_.reasons) out[py::int_(index)] = py::str(text);
    return out;
  }
  py::list client_ids() const {
    py::list out;
    for (const auto& id : r_.client_ids) out.append(py::str(id));
    return out;
  }
  py::list rejected_ids() const {
    py::list out;
    for (const auto& id : r_.rejected_ids()) out.append(py::str(id));
    return out;
  }
  /// One dict per rejected client, in row order: client (row), id, code, stage, rule,
  /// detail, values (docs/result.md).
  py::list rejections() const {
    py::list out;
    for (const Rejection& r : r_.rejections) out.append(rejection_dict(r));
    return out;
  }
  /// Rejections keyed by client id.
  py::dict rejections_by_id() const {
    py::dict out;
    for (const Rejection& r : r_.rejections) out[py::str(r.id)] = rejection_dict(r);
    return out;
  }
  std::vector<std::string> notes() const { return r_.notes; }
  py::dict reference_weights() const {
    py::dict out;
    for (const auto& [name, w] : r_.reference_weights) out[py::str(name)] = w;
    return out;
  }
  py::dict timings_ms() const {  // execution order
    py::dict out;
    for (const auto& [stage, ms] : r_.timings_ms) out[py::str(stage)] = ms;
    return out;
  }
  py::array aggregate() const { return aggregate_; }
  py::dict metrics() const {  // NaN for a refused (non-finite) metric
    py::dict out;
    for (const auto& [name, v] : r_.metrics) out[py::str(name)] = v;
    return out;
  }
  py::list alerts() const {
    py::list out;
    for (const Alert& a : r_.alerts) {
      py::dict d;
      d["metric"] = a.metric;
      d["round"] = a.round;
      d["method"] = a.method;
      d["direction"] = a.direction;
      d["statistic"] = a.statistic;
      d["threshold"] = a.threshold;
      d["value"] = a.value;
      d["baseline_mean"] = a.baseline_mean;
      d["baseline_scale"] = a.baseline_scale;
      if (!a.client.empty()) d["client"] = a.client;  // client-level alerts (per-client monitoring)
      out.append(std::move(d));
    }
    return out;
  }
  std::vector<std::string> metrics_refused() const { return r_.metrics_refused; }
  const RoundResult& raw() const { return r_; }
  std::string to_json(int indent) const { return r_.to_json().dump(indent); }
  py::object verification() const {  // dict, or None when the engine holds no registry
    if (!r_.verification_ran) return py::none();
    return py::module_::import("json").attr("loads")(r_.to_json()["verification"].dump());
  }

 private:
  RoundResult r_;
  py::array_t<float> aggregate_;
};

class PyEngine {
 public:
  explicit PyEngine(const std::string& config_json)
      : engine_(EngineConfig::from_json(config_json)) {}

  PyRoundResult process_round(py::handle updates,
                              std::optional<std::vector<std::string>> client_ids,
                              std::optional<std::vector<double>> num_samples, py::handle reference,
                              std::optional<std::size_t> expected_length,
                              std::optional<std::vector<std::string>> signatures,
                              std::uint64_t round_number, std::optional<py::bytes> nonce,
                              std::optional<std::map<std::string, double>> server_metrics,
                              std::optional<std::vector<py::bytes>> update_digests) {
    Input in;  // declared first: destroyed last, with the GIL held
    build_updates(updates, expected_length, in);
    build_reference(reference, in);
    RoundInput round;
    round.updates = in.view;
    if (client_ids) round.client_ids = std::move(*client_ids);
    if (num_samples) round.num_samples = std::move(*num_samples);
    round.reference = in.reference;
    if (signatures) round.signatures = std::move(*signatures);
    round.round = round_number;
    if (nonce) round.nonce = identity_py::array_of<32>(*nonce, "nonce");
    if (server_metrics) round.server_metrics = std::move(*server_metrics);
    if (update_digests)
      for (const py::bytes& b : *update_digests)
        round.update_digests.push_back(identity_py::array_of<32>(b, "update digest"));
    RoundResult result;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);  // one round at a time per engine
      result = engine_.process_round(round);
    }
    return PyRoundResult(std::move(result));
  }

  std::string config_json() const { return engine_.config().to_json().dump(); }
  std::string backend() const { return engine_.backend_name(); }
  std::size_t rounds_processed() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    return engine_.rounds_processed();
  }
  void reset_state() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    engine_.reset_state();
  }
  std::size_t clients_known() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    return engine_.clients_known();
  }
  void save_state(const std::string& path) {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    engine_.save_state(path);
  }
  void load_state(const std::string& path) {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    engine_.load_state(path);
  }
  void set_registry(const std::string& json_text) {
    identity::Registry r = identity::parse_registry(json_text, "registry");
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    engine_.set_registry(std::move(r));
  }
  void clear_registry() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    engine_.clear_registry();
  }
  std::map<std::string, std::uint64_t> alert_counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return engine_.alert_counts();
  }
  std::string prometheus_text(const PyRoundResult& result) {
    std::lock_guard<std::mutex> lock(mutex_);
    return engine_.prometheus_text(result.raw());
  }

 private:
  Engine engine_;
  std::mutex mutex_;
};

py::dict describe_updates(py::handle updates, std::optional<std::size_t> expected_length) {
  Input in;
  build_updates(updates, expected_length, in);
  const UpdateView& v = in.view;
  py::list rows;
  for (std::size_t i = 0; i < v.rows(); ++i) {
    const ClientUpdate& c = v.client(i);
    rows.append(
        py::make_tuple(reinterpret_cast<std::uintptr_t>(c.data), c.length, dtype_name(c.dtype)));
  }
  py::dict out;
  out["n"] = v.rows();
  out["d"] = v.cols();
  out["dtype"] = dtype_name(v.dtype());
  out["device"] = location_text(v.location());
  out["block"] = v.is_block();
  out["row_stride"] = v.is_block() ? v.block_stride() : 0;
  out["copied"] = in.copied;
  out["source"] = in.source;
  out["rows"] = rows;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attacks (host/attacks/): numpy float32 in, (numpy float32 (f, d), info JSON text) out.

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::tuple craft_attack_py(const std::string& name, const FloatArray& benign,
                          std::size_t n_malicious, const std::optional<FloatArray>& own,
                          const std::optional<FloatArray>& global_model, std::uint64_t seed,
                          std::size_t round, std::size_t n_total, const std::string& params_json) {
  if (benign.ndim() != 2)
    invalid("attack: benign must be 2-D (n_benign, d), got " + std::to_string(benign.ndim()) +
            "-D");
  AttackInput in;
  in.benign = benign.data();
  in.n_benign = static_cast<std::size_t>(benign.shape(0));
  in.d = static_cast<std::size_t>(benign.shape(1));
  in.n_malicious = n_malicious;
  in.n_total = n_total;
  in.seed = seed;
  in.round = round;
  if (own) {
    if (own->ndim() != 2 || static_cast<std::size_t>(own->shape(0)) != n_malicious ||
        static_cast<std::size_t>(own->shape(1)) != in.d)
      invalid("attack: own must have shape (n_malicious, d) = (" + std::to_string(n_malicious) +
              ", " + std::to_string(in.d) + ")");
    in.own = own->data();
  }
  if (global_model) {
    if (static_cast<std::size_t>(global_model->size()) != in.d)
      invalid("attack: global_model must have d=" + std::to_string(in.d) + " values, got " +
              std::to_string(global_model->size()));
    in.global_model = global_model->data();
  }
  nlohmann::json params;
  try {
    params = nlohmann::json::parse(params_json);
  } catch (const nlohmann::json::parse_error& e) {
    invalid(std::string("attack: parameters are not valid JSON: ") + e.what());
  }
  AttackOutput out;
  {
    py::gil_scoped_release release;
    out = craft_attack(name, params, in);
  }
  const std::size_t f = out.n, d = out.d;
  auto* owned = new std::vector<float>(std::move(out.updates));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  py::array_t<float> updates({f, d}, {d * sizeof(float), sizeof(float)}, owned->data(), owner);
  return py::make_tuple(updates, out.info.dump());
}

}  // namespace
}  // namespace fedguard::python

PYBIND11_MODULE(_core, m) {
  using namespace fedguard::python;
  m.doc() = "fedguard's C++ engine (pybind11). Use the `fedguard` package, not this module.";

  g_error =
      add_exception(m, "Error", nullptr, "Base class of every error fedguard's engine raises.");
  g_invalid_input = add_exception(m, "InvalidInputError", PyExc_ValueError,
                                  "The caller's data or configuration is wrong.");
  g_unsupported = add_exception(
      m, "UnsupportedError", PyExc_NotImplementedError,
      "A valid request this build cannot serve (e.g. CUDA memory without a CUDA backend).");
  g_out_of_memory = add_exception(m, "OutOfMemoryError", PyExc_MemoryError,
                                  "Host or device memory ran out after every fallback.");
  g_device_failure = add_exception(m, "DeviceError", PyExc_RuntimeError,
                                   "A CUDA / cuBLAS / cuSOLVER call failed.");
  g_io = add_exception(m, "IoError", PyExc_OSError,
                       "A file could not be read or written, or is malformed.");
  // pybind11's translator type takes the exception_ptr by value.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fedguard::Error& e) {
      PyErr_SetString(exception_for(e.category()), e.what());
    }
  });

  py::class_<PyRoundResult>(m, "RoundResult")
      .def_property_readonly("n", &PyRoundResult::n)
      .def_property_readonly("d", &PyRoundResult::d)
      .def_property_readonly("accepted", &PyRoundResult::accepted)
      .def_property_readonly("weights", &PyRoundResult::weights)
      .def_property_readonly("linear", &PyRoundResult::linear)
      .def_property_readonly("reference_weights", &PyRoundResult::reference_weights)
      .def_property_readonly("noise_sigma", &PyRoundResult::noise_sigma)
      .def_property_readonly("scores", &PyRoundResult::scores)
      .def_property_readonly("reasons", &PyRoundResult::reasons)
      .def_property_readonly("client_ids", &PyRoundResult::client_ids)
      .def_property_readonly("rejected_ids", &PyRoundResult::rejected_ids)
      .def_property_readonly("rejections", &PyRoundResult::rejections)
      .def_property_readonly("rejections_by_id", &PyRoundResult::rejections_by_id)
      .def_property_readonly("notes", &PyRoundResult::notes)
      .def_property_readonly("aggregate", &PyRoundResult::aggregate)
      .def_property_readonly("timings_ms", &PyRoundResult::timings_ms)
      .def_property_readonly("verification", &PyRoundResult::verification)
      .def_property_readonly("metrics", &PyRoundResult::metrics)
      .def_property_readonly("alerts", &PyRoundResult::alerts)
      .def_property_readonly("metrics_refused", &PyRoundResult::metrics_refused)
      .def("to_json", &PyRoundResult::to_json, py::arg("indent") = -1);

  py::class_<PyEngine>(m, "Engine")
      .def(py::init<const std::string&>(), py::arg("config_json"))
      .def("process_round", &PyEngine::process_round, py::arg("updates"),
           py::arg("client_ids") = py::none(), py::arg("num_samples") = py::none(),
           py::arg("reference") = py::none(), py::arg("expected_length") = py::none(),
           py::arg("signatures") = py::none(), py::arg("round") = 0, py::arg("nonce") = py::none(),
           py::arg("server_metrics") = py::none(), py::arg("update_digests") = py::none())
      .def("set_registry", &PyEngine::set_registry, py::arg("registry_json"))
      .def("clear_registry", &PyEngine::clear_registry)
      .def_property_readonly("config_json", &PyEngine::config_json)
      .def_property_readonly("backend", &PyEngine::backend)
      .def_property_readonly("rounds_processed", &PyEngine::rounds_processed)
      .def_property_readonly("clients_known", &PyEngine::clients_known)
      .def("reset_state", &PyEngine::reset_state)
      .def("save_state", &PyEngine::save_state, py::arg("path"))
      .def("load_state", &PyEngine::load_state, py::arg("path"))
      .def("alert_counts", &PyEngine::alert_counts)
      .def("prometheus_text", &PyEngine::prometheus_text, py::arg("result"));

  m.def("describe_updates", &describe_updates, py::arg("updates"),
        py::arg("expected_length") = py::none());
  m.def("version", &fedguard::version);
  m.def("backends_built", &fedguard::backends_built);
  m.def("blas_info", [] {
    const fedguard::BlasInfo info = fedguard::blas_info();
    py::dict out;
    out["description"] = info.description;
    out["kernel"] = info.kernel;
    out["better_kernel"] = info.better_kernel.empty() ? py::object(py::none())
                                                      : py::object(py::str(info.better_kernel));
    out["cpu"] = info.cpu;
    return out;
  });
  m.def("rule_names", &fedguard::rule_names);
  m.def(
      "_recommended_policy_json",
      [](std::size_t f) { return fedguard::EngineConfig::recommended(f).to_json().dump(); },
      py::arg("f"));
  m.def("attack_names", &fedguard::attack_names);
  m.def("craft_attack", &craft_attack_py, py::arg("name"), py::arg("benign"),
        py::arg("n_malicious"), py::arg("own") = py::none(), py::arg("global_model") = py::none(),
        py::arg("seed") = 0, py::arg("round") = 0, py::arg("n_total") = 0,
        py::arg("params_json") = "{}");
  identity_py::add_identity_functions(m);
}
