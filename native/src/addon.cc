// N-API bindings: unpacks JS arguments (typed arrays zero-copy), checks every size against the buffers so a wrong
// call throws a JS error naming the kernel and argument instead of reading or writing out of bounds, then runs the
// kernel. Method names and argument orders are those of the Backend interface in src/backend/backend.ts.
#include <napi.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "cpu.h"
#include "decode_attention.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "kernels.h"
#include "pool.h"

namespace {

template <typename T>
constexpr napi_typedarray_type element_type();
template <>
constexpr napi_typedarray_type element_type<float>() { return napi_float32_array; }
template <>
constexpr napi_typedarray_type element_type<int32_t>() { return napi_int32_array; }
template <>
constexpr napi_typedarray_type element_type<uint16_t>() { return napi_uint16_array; }

// Reads arguments by position. The first problem throws a JS error and makes ok() false; later reads return
// harmless values so the binding can check ok() once after reading everything.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* kernel) : info_(info), kernel_(kernel) {}

  bool ok() const { return ok_; }

  template <typename T>
  T* array(size_t i, const char* name, int64_t needed) {
    using Typed = Napi::TypedArrayOf<T>;
    if (!ok_) return nullptr;
    if (i >= info_.Length() || !info_[i].IsTypedArray()) return fail(name, "must be a typed array"), nullptr;
    Napi::TypedArray ta = info_[i].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != element_type<T>()) return fail(name, "has the wrong element type"), nullptr;
    Typed arr = info_[i].As<Typed>();
    if (static_cast<int64_t>(arr.ElementLength()) < needed) {
      return fail(name, ("has " + std::to_string(arr.ElementLength()) + " elements, needs " +
                         std::to_string(needed)).c_str()),
             nullptr;
    }
    return arr.Data();
  }

  double number(size_t i, const char* name) {
    if (!ok_) return 0;
    if (i >= info_.Length() || !info_[i].IsNumber()) return fail(name, "must be a number"), 0;
    return info_[i].As<Napi::Number>().DoubleValue();
  }

  int64_t size(size_t i, const char* name) { return checked_size(number(i, name), name); }

  bool flag(size_t i, const char* name) {
    if (!ok_) return false;
    if (i >= info_.Length() || !info_[i].IsBoolean()) return fail(name, "must be a boolean"), false;
    return info_[i].As<Napi::Boolean>().Value();
  }

  Napi::Object object(size_t i, const char* name) {
    if (ok_ && (i >= info_.Length() || !info_[i].IsObject())) fail(name, "must be an object");
    return ok_ ? info_[i].As<Napi::Object>() : Napi::Object::New(info_.Env());
  }

  double field_number(Napi::Object o, const char* name) {
    if (!ok_) return 0;
    Napi::Value v = o.Get(name);
    if (!v.IsNumber()) return fail(name, "must be a number"), 0;
    return v.As<Napi::Number>().DoubleValue();
  }

  int64_t field_size(Napi::Object o, const char* name) { return checked_size(field_number(o, name), name); }

  bool field_flag(Napi::Object o, const char* name) {
    if (!ok_) return false;
    Napi::Value v = o.Get(name);
    if (!v.IsBoolean()) return fail(name, "must be a boolean"), false;
    return v.As<Napi::Boolean>().Value();
  }

  void fail(const char* name, const char* problem) { throw_once(std::string(name) + " " + problem); }

  void fail_index(const char* name, int64_t index, int64_t value, const char* allowed) {
    throw_once(std::string(name) + "[" + std::to_string(index) + "] = " + std::to_string(value) + " is outside " + allowed);
  }

 private:
  void throw_once(const std::string& what) {
    if (!ok_) return;
    ok_ = false;
    Napi::RangeError::New(info_.Env(), std::string("native ") + kernel_ + ": " + what).ThrowAsJavaScriptException();
  }

  int64_t checked_size(double d, const char* name) {
    if (!ok_) return 0;
    if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
      return fail(name, "must be a non-negative integer"), 0;
    }
    return static_cast<int64_t>(d);
  }

  const Napi::CallbackInfo& info_;
  const char* kernel_;
  bool ok_ = true;
};

rt::GemmShape read_gemm_shape(Args& args, size_t i) {
  Napi::Object o = args.object(i, "args");
  rt::GemmShape s{};
  s.batch = args.field_size(o, "batch");
  s.M = args.field_size(o, "M");
  s.N = args.field_size(o, "N");
  s.K = args.field_size(o, "K");
  s.transA = args.field_flag(o, "transA");
  s.transB = args.field_flag(o, "transB");
  s.accumulate = args.field_flag(o, "accumulate");
  return s;
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args args(info, "matmul");
  rt::GemmShape s = read_gemm_shape(args, 3);
  const float* a = args.array<float>(0, "a", s.batch * s.M * s.K);
  const float* b = args.array<float>(1, "b", s.batch * s.K * s.N);
  float* c = args.array<float>(2, "c", s.batch * s.M * s.N);
  if (args.ok()) rt::gemm_f32(a, b, c, s);
  return info.Env().Undefined();
}

Napi::Value MatmulPair(const Napi::CallbackInfo& info) {
  Args args(info, "matmulPair");
  rt::GemmShape s1 = read_gemm_shape(args, 3), s2 = read_gemm_shape(args, 7);
  const float* a1 = args.array<float>(0, "a1", s1.batch * s1.M * s1.K);
  const float* b1 = args.array<float>(1, "b1", s1.batch * s1.K * s1.N);
  float* c1 = args.array<float>(2, "c1", s1.batch * s1.M * s1.N);
  const float* a2 = args.array<float>(4, "a2", s2.batch * s2.M * s2.K);
  const float* b2 = args.array<float>(5, "b2", s2.batch * s2.K * s2.N);
  float* c2 = args.array<float>(6, "c2", s2.batch * s2.M * s2.N);
  if (args.ok()) rt::gemm_pair_f32(a1, b1, c1, s1, a2, b2, c2, s2);
  return info.Env().Undefined();
}

Napi::Value MatmulBf16(const Napi::CallbackInfo& info) {
  Args args(info, "matmulBf16");
  rt::GemmShape s = read_gemm_shape(args, 3);
  const float* a = args.array<float>(0, "a", s.batch * s.M * s.K);
  const uint16_t* b = args.array<uint16_t>(1, "b", s.batch * s.K * s.N);
  float* c = args.array<float>(2, "c", s.batch * s.M * s.N);
  if (args.ok()) rt::gemm_bf16_compute(a, b, c, s);
  return info.Env().Undefined();
}

// Checks every id against [0, limit); returns false (having thrown) on the first bad one.
bool check_ids(Args& args, const int32_t* ids, int64_t n, int64_t limit, const char* name, bool allowIgnore) {
  if (!args.ok()) return false;
  for (int64_t i = 0; i < n; i++) {
    int32_t id = ids[i];
    if (allowIgnore && id == -100) continue;
    if (id < 0 || id >= limit) {
      std::string allowed = "[0, " + std::to_string(limit) + ")" + (allowIgnore ? " and is not -100" : "");
      args.fail_index(name, i, id, allowed.c_str());
      return false;
    }
  }
  return true;
}

Napi::Value Embedding(const Napi::CallbackInfo& info) {
  Args args(info, "embedding");
  int64_t C = args.size(3, "C");
  Napi::TypedArray ids0 = info.Length() > 1 && info[1].IsTypedArray() ? info[1].As<Napi::TypedArray>() : Napi::TypedArray();
  int64_t N = ids0.IsEmpty() ? 0 : static_cast<int64_t>(ids0.ElementLength());
  const int32_t* ids = args.array<int32_t>(1, "ids", N);
  const float* weight = args.array<float>(0, "weight", 0);
  float* out = args.array<float>(2, "out", N * C);
  if (!args.ok()) return info.Env().Undefined();
  if (C == 0) return info.Env().Undefined();
  int64_t V = static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength()) / C;
  if (check_ids(args, ids, N, V, "ids", false)) rt::embedding(weight, ids, out, N, C);
  return info.Env().Undefined();
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackward");
  int64_t C = args.size(3, "C");
  Napi::TypedArray ids0 = info.Length() > 1 && info[1].IsTypedArray() ? info[1].As<Napi::TypedArray>() : Napi::TypedArray();
  int64_t N = ids0.IsEmpty() ? 0 : static_cast<int64_t>(ids0.ElementLength());
  const float* dOut = args.array<float>(0, "dOut", N * C);
  const int32_t* ids = args.array<int32_t>(1, "ids", N);
  float* dWeight = args.array<float>(2, "dWeight", 0);
  if (!args.ok() || C == 0) return info.Env().Undefined();
  int64_t V = static_cast<int64_t>(info[2].As<Napi::Float32Array>().ElementLength()) / C;
  if (check_ids(args, ids, N, V, "ids", false)) rt::embedding_backward(dOut, ids, dWeight, N, C);
  return info.Env().Undefined();
}

Napi::Value Rmsnorm(const Napi::CallbackInfo& info) {
  Args args(info, "rmsnorm");
  int64_t N = args.size(4, "N"), C = args.size(5, "C");
  float eps = static_cast<float>(args.number(6, "eps"));
  const float* x = args.array<float>(0, "x", N * C);
  const float* w = args.array<float>(1, "w", C);
  float* out = args.array<float>(2, "out", N * C);
  float* rstd = args.array<float>(3, "rstd", N);
  if (args.ok()) rt::rmsnorm(x, w, out, rstd, N, C, eps);
  return info.Env().Undefined();
}

Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "rmsnormBackward");
  int64_t N = args.size(6, "N"), C = args.size(7, "C");
  const float* dOut = args.array<float>(0, "dOut", N * C);
  const float* x = args.array<float>(1, "x", N * C);
  const float* w = args.array<float>(2, "w", C);
  const float* rstd = args.array<float>(3, "rstd", N);
  float* dx = args.array<float>(4, "dx", N * C);
  float* dw = args.array<float>(5, "dw", C);
  if (args.ok()) rt::rmsnorm_backward(dOut, x, w, rstd, dx, dw, N, C);
  return info.Env().Undefined();
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  Args args(info, "rope");
  int64_t N = args.size(5, "N"), nHead = args.size(6, "nHead"), hd = args.size(7, "hd");
  bool inverse = args.flag(8, "inverse");
  if (args.ok() && hd % 2 != 0) args.fail("hd", "must be even");
  const float* x = args.array<float>(0, "x", N * nHead * hd);
  float* out = args.array<float>(1, "out", N * nHead * hd);
  const int32_t* positions = args.array<int32_t>(2, "positions", N);
  const float* cos = args.array<float>(3, "cos", 0);
  const float* sin = args.array<float>(4, "sin", 0);
  if (!args.ok()) return info.Env().Undefined();
  int64_t half = hd / 2;
  int64_t maxPos = half == 0 ? 0 : static_cast<int64_t>(info[3].As<Napi::Float32Array>().ElementLength()) / half;
  int64_t sinRows = half == 0 ? 0 : static_cast<int64_t>(info[4].As<Napi::Float32Array>().ElementLength()) / half;
  if (sinRows < maxPos) maxPos = sinRows;
  if (half > 0 && check_ids(args, positions, N, maxPos, "positions", false))
    rt::rope(x, out, positions, cos, sin, N, nHead, hd, inverse);
  return info.Env().Undefined();
}

// null (or absent) is plain causal attention, which the kernels spell as 0.
int64_t read_window(Args& args, Napi::Object o) {
  if (!args.ok()) return 0;
  Napi::Value w = o.Get("window");
  if (w.IsNull() || w.IsUndefined()) return 0;
  const double x = w.IsNumber() ? w.As<Napi::Number>().DoubleValue() : -1;
  if (!(x >= 1 && x <= 9.0e15 && x == std::floor(x))) args.fail("window", "must be a whole number >= 1 or null");
  return static_cast<int64_t>(x);
}

rt::AttentionShape read_attention_shape(Args& args, size_t i) {
  Napi::Object o = args.object(i, "args");
  rt::AttentionShape s{};
  s.B = args.field_size(o, "B");
  s.T = args.field_size(o, "T");
  s.nHead = args.field_size(o, "nHead");
  s.nKV = args.field_size(o, "nKV");
  s.hd = args.field_size(o, "hd");
  s.scale = static_cast<float>(args.field_number(o, "scale"));
  if (args.ok() && (s.nKV == 0 || s.nHead % s.nKV != 0)) args.fail("nKV", "must divide nHead");
  s.window = read_window(args, o);
  if (args.ok()) {
    Napi::Value seg = o.Get("segments");
    if (seg.IsNull() || seg.IsUndefined()) {
      s.segments = nullptr;
    } else if (!seg.IsTypedArray() || seg.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      args.fail("segments", "must be an Int32Array or null");
    } else if (static_cast<int64_t>(seg.As<Napi::Int32Array>().ElementLength()) < s.B * s.T) {
      args.fail("segments", "is shorter than B*T");
    } else {
      s.segments = seg.As<Napi::Int32Array>().Data();
    }
  }
  return s;
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  Args args(info, "attention");
  rt::AttentionShape s = read_attention_shape(args, 5);
  const float* q = args.array<float>(0, "q", s.B * s.T * s.nHead * s.hd);
  const float* k = args.array<float>(1, "k", s.B * s.T * s.nKV * s.hd);
  const float* v = args.array<float>(2, "v", s.B * s.T * s.nKV * s.hd);
  float* out = args.array<float>(3, "out", s.B * s.T * s.nHead * s.hd);
  float* lse = args.array<float>(4, "lse", s.B * s.nHead * s.T);
  if (args.ok()) rt::attention(q, k, v, out, lse, s);
  return info.Env().Undefined();
}

Napi::Value AttentionCached(const Napi::CallbackInfo& info) {
  Args args(info, "attentionCached");
  Napi::Object o = args.object(4, "args");
  rt::CachedAttentionShape s{};
  s.Tq = args.field_size(o, "Tq");
  s.Tk = args.field_size(o, "Tk");
  s.nHead = args.field_size(o, "nHead");
  s.nKV = args.field_size(o, "nKV");
  s.hd = args.field_size(o, "hd");
  s.scale = static_cast<float>(args.field_number(o, "scale"));
  s.window = read_window(args, o);
  if (args.ok() && (s.nKV == 0 || s.nHead % s.nKV != 0)) args.fail("nKV", "must divide nHead");
  if (args.ok() && s.Tq > s.Tk) args.fail("Tq", "must not exceed Tk (the queries are the last Tq cached positions)");
  const float* q = args.array<float>(0, "q", s.Tq * s.nHead * s.hd);
  const float* k = args.array<float>(1, "k", s.Tk * s.nKV * s.hd);
  const float* v = args.array<float>(2, "v", s.Tk * s.nKV * s.hd);
  float* out = args.array<float>(3, "out", s.Tq * s.nHead * s.hd);
  if (args.ok()) rt::attention_cached(q, k, v, out, s);
  return info.Env().Undefined();
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args args(info, "attentionBackward");
  rt::AttentionShape s = read_attention_shape(args, 9);
  int64_t qSize = s.B * s.T * s.nHead * s.hd, kvSize = s.B * s.T * s.nKV * s.hd;
  const float* dOut = args.array<float>(0, "dOut", qSize);
  const float* q = args.array<float>(1, "q", qSize);
  const float* k = args.array<float>(2, "k", kvSize);
  const float* v = args.array<float>(3, "v", kvSize);
  const float* out = args.array<float>(4, "out", qSize);
  const float* lse = args.array<float>(5, "lse", s.B * s.nHead * s.T);
  float* dq = args.array<float>(6, "dq", qSize);
  float* dk = args.array<float>(7, "dk", kvSize);
  float* dv = args.array<float>(8, "dv", kvSize);
  if (args.ok()) rt::attention_backward(dOut, q, k, v, out, lse, dq, dk, dv, s);
  return info.Env().Undefined();
}

Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  Args args(info, "swiglu");
  int64_t n = args.size(3, "n");
  const float* gate = args.array<float>(0, "gate", n);
  const float* up = args.array<float>(1, "up", n);
  float* out = args.array<float>(2, "out", n);
  if (args.ok()) rt::swiglu(gate, up, out, n);
  return info.Env().Undefined();
}

Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  Args args(info, "swigluBackward");
  int64_t n = args.size(5, "n");
  const float* dOut = args.array<float>(0, "dOut", n);
  const float* gate = args.array<float>(1, "gate", n);
  const float* up = args.array<float>(2, "up", n);
  float* dGate = args.array<float>(3, "dGate", n);
  float* dUp = args.array<float>(4, "dUp", n);
  if (args.ok()) rt::swiglu_backward(dOut, gate, up, dGate, dUp, n);
  return info.Env().Undefined();
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropy");
  int64_t N = args.size(4, "N"), V = args.size(5, "V");
  const float* logits = args.array<float>(0, "logits", N * V);
  const int32_t* targets = args.array<int32_t>(1, "targets", N);
  float* losses = args.array<float>(2, "losses", N);
  float* lse = args.array<float>(3, "lse", N);
  if (check_ids(args, targets, N, V, "targets", true)) rt::cross_entropy(logits, targets, losses, lse, N, V);
  return info.Env().Undefined();
}

Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyBackward");
  int64_t N = args.size(5, "N"), V = args.size(6, "V");
  const float* logits = args.array<float>(0, "logits", N * V);
  const int32_t* targets = args.array<int32_t>(1, "targets", N);
  const float* lse = args.array<float>(2, "lse", N);
  const float* dLoss = args.array<float>(3, "dLoss", N);
  float* dLogits = args.array<float>(4, "dLogits", N * V);
  if (check_ids(args, targets, N, V, "targets", true))
    rt::cross_entropy_backward(logits, targets, lse, dLoss, dLogits, N, V);
  return info.Env().Undefined();
}

Napi::Value CrossEntropyWithGrad(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyWithGrad");
  int64_t N = args.size(5, "N"), V = args.size(6, "V");
  float* logits = args.array<float>(0, "logits", N * V);
  const int32_t* targets = args.array<int32_t>(1, "targets", N);
  float* losses = args.array<float>(2, "losses", N);
  float* lse = args.array<float>(3, "lse", N);
  const float* dLoss = args.array<float>(4, "dLoss", N);
  if (check_ids(args, targets, N, V, "targets", true))
    rt::cross_entropy_with_grad(logits, targets, losses, lse, dLoss, N, V);
  return info.Env().Undefined();
}

Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Args args(info, "adamw");
  int64_t n = args.size(4, "n");
  rt::AdamWHyper h{};
  h.lr = args.number(5, "lr");
  h.beta1 = args.number(6, "beta1");
  h.beta2 = args.number(7, "beta2");
  h.eps = args.number(8, "eps");
  h.weightDecay = args.number(9, "weightDecay");
  h.bc1 = args.number(10, "bc1");
  h.bc2 = args.number(11, "bc2");
  float* p = args.array<float>(0, "p", n);
  const float* g = args.array<float>(1, "g", n);
  float* m = args.array<float>(2, "m", n);
  float* v = args.array<float>(3, "v", n);
  if (args.ok()) rt::adamw(p, g, m, v, n, h);
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args args(info, "sumSquares");
  int64_t n = args.size(1, "n");
  const float* x = args.array<float>(0, "x", n);
  if (!args.ok()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), rt::sum_squares(x, n));
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args args(info, "scale");
  double s = args.number(1, "s");
  int64_t n = args.size(2, "n");
  float* x = args.array<float>(0, "x", n);
  if (args.ok()) rt::scale(x, s, n);
  return info.Env().Undefined();
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  Args args(info, "add");
  int64_t n = args.size(3, "n");
  const float* a = args.array<float>(0, "a", n);
  const float* b = args.array<float>(1, "b", n);
  float* out = args.array<float>(2, "out", n);
  if (args.ok()) rt::add(a, b, out, n);
  return info.Env().Undefined();
}

Napi::Value Mul(const Napi::CallbackInfo& info) {
  Args args(info, "mul");
  int64_t n = args.size(3, "n");
  const float* a = args.array<float>(0, "a", n);
  const float* b = args.array<float>(1, "b", n);
  float* out = args.array<float>(2, "out", n);
  if (args.ok()) rt::mul(a, b, out, n);
  return info.Env().Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args args(info, "axpy");
  double alpha = args.number(0, "alpha");
  int64_t n = args.size(3, "n");
  const float* x = args.array<float>(1, "x", n);
  float* y = args.array<float>(2, "y", n);
  if (args.ok()) rt::axpy(alpha, x, y, n);
  return info.Env().Undefined();
}

Napi::Value AddRows(const Napi::CallbackInfo& info) {
  Args args(info, "addRows");
  const int64_t N = args.size(2, "N"), C = args.size(3, "C");
  float* out = args.array<float>(0, "out", N * C);
  const float* bias = args.array<float>(1, "bias", C);
  if (args.ok()) rt::add_rows(out, bias, N, C);
  return info.Env().Undefined();
}

Napi::Value SumRows(const Napi::CallbackInfo& info) {
  Args args(info, "sumRows");
  const int64_t N = args.size(2, "N"), C = args.size(3, "C");
  const float* x = args.array<float>(0, "x", N * C);
  float* out = args.array<float>(1, "out", C);
  if (args.ok()) rt::sum_rows(x, out, N, C);
  return info.Env().Undefined();
}

Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Args args(info, "transpose");
  const int64_t rows = args.size(2, "rows"), cols = args.size(3, "cols");
  const bool accumulate = args.flag(4, "accumulate");
  const float* src = args.array<float>(0, "src", rows * cols);
  float* dst = args.array<float>(1, "dst", rows * cols);
  if (args.ok()) rt::transpose(src, dst, rows, cols, accumulate);
  return info.Env().Undefined();
}

Napi::Value RoundBf16(const Napi::CallbackInfo& info) {
  Args args(info, "roundBf16");
  const int64_t n = args.size(2, "n");
  const float* x = args.array<float>(0, "x", n);
  uint16_t* out = args.array<uint16_t>(1, "out", n);
  if (args.ok()) rt::round_bf16_array(x, out, n);
  return info.Env().Undefined();
}

Napi::Value LowRankProject(const Napi::CallbackInfo& info) {
  Args args(info, "lowRankProject");
  int64_t n = args.size(3, "n"), F = args.size(4, "F"), r = args.size(5, "r");
  double s = args.number(6, "s");
  const float* x = args.array<float>(0, "x", n * F);
  const float* w = args.array<float>(1, "w", r * F);
  float* y = args.array<float>(2, "y", n * r);
  if (args.ok()) rt::low_rank_project(x, w, y, n, F, r, s);
  return info.Env().Undefined();
}

Napi::Value LowRankExpand(const Napi::CallbackInfo& info) {
  Args args(info, "lowRankExpand");
  int64_t n = args.size(3, "n"), r = args.size(4, "r"), F = args.size(5, "F");
  const float* y = args.array<float>(0, "y", n * r);
  const float* w = args.array<float>(1, "w", r * F);
  float* out = args.array<float>(2, "out", n * F);
  if (args.ok()) rt::low_rank_expand(y, w, out, n, r, F);
  return info.Env().Undefined();
}

Napi::Value LowRankReduce(const Napi::CallbackInfo& info) {
  Args args(info, "lowRankReduce");
  int64_t n = args.size(3, "n"), r = args.size(4, "r"), F = args.size(5, "F");
  bool accumulate = args.flag(6, "accumulate");
  const float* y = args.array<float>(0, "y", n * r);
  const float* x = args.array<float>(1, "x", n * F);
  float* d = args.array<float>(2, "d", r * F);
  if (args.ok()) rt::low_rank_reduce(y, x, d, n, r, F, accumulate);
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setThreads");
  int64_t n = args.size(0, "n");
  if (args.ok() && (n < 1 || n > 1024)) args.fail("n", "must be between 1 and 1024");
  if (args.ok()) rt::set_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), rt::threads()); }

Napi::Value SlowWorkersForTest(const Napi::CallbackInfo& info) {
  Args args(info, "slowWorkersForTest");
  int64_t us = args.size(0, "microseconds");
  if (args.ok() && us > 1000000) args.fail("microseconds", "must be at most 1000000");
  if (!args.ok()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(rt::slow_workers_for_test(static_cast<int>(us))));
}

Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Args args(info, "fmaPeak");
  int64_t n = args.size(0, "threads");
  double seconds = args.number(1, "seconds");
  if (!args.ok()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), rt::fma_peak_gflops(static_cast<int>(n), seconds));
}

Napi::Value KernelName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rt::gemm_kernel().name);
}

// The names of every GEMM kernel this host runs (setGemmKernel takes them).
Napi::Value GemmKernels(const Napi::CallbackInfo& info) {
  Napi::Array names = Napi::Array::New(info.Env());
  for (const rt::GemmKernel* kernel : rt::host_gemm_kernels()) names.Set(names.Length(), kernel->name);
  return names;
}

Napi::Value SetGemmKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "setGemmKernel: name must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!rt::set_gemm_kernel(name.c_str()))
    Napi::RangeError::New(env, "setGemmKernel: '" + name + "' is not a GEMM kernel this CPU runs").ThrowAsJavaScriptException();
  return env.Undefined();
}

// The path in force and the host's: {path, host, paths (every path the host runs, narrowest first), features}.
Napi::Value KernelPaths(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", rt::isa_name(rt::active_isa()));
  o.Set("host", rt::isa_name(rt::host_isa()));
  Napi::Array paths = Napi::Array::New(env);
  const int host = static_cast<int>(rt::host_isa());
  for (int i = host == 0 ? 0 : 1; i <= host; i++) paths.Set(paths.Length(), rt::isa_name(static_cast<rt::Isa>(i)));
  o.Set("paths", paths);
  const rt::CpuFeatures& f = rt::cpu_features();
  Napi::Object features = Napi::Object::New(env);
  features.Set("avx2_fma", f.avx2_fma);
  features.Set("avx512", f.avx512);
  features.Set("avx512_bf16", f.avx512_bf16);
  features.Set("amx_tile", f.amx_tile);
  features.Set("amx_bf16", f.amx_bf16);
  o.Set("features", features);
  return o;
}

Napi::Value SetKernelPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "setKernelPath: path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  rt::Isa isa;
  if (!rt::isa_from_name(name.c_str(), &isa) || !rt::set_isa(isa)) {
    Napi::RangeError::New(env, "setKernelPath: '" + name + "' is not a kernel path this CPU runs (widest: " +
                                   rt::isa_name(rt::host_isa()) + ")")
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// The kernel matmulBf16 uses under the path in force (a bf16 kernel that failed its self-check is skipped).
Napi::Value Bf16Path(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rt::bf16_path_name(rt::bf16_path()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  };
  const Entry entries[] = {
      {"matmul", Matmul},
      {"matmulBf16", MatmulBf16},
      {"matmulPair", MatmulPair},
      {"embedding", Embedding},
      {"embeddingBackward", EmbeddingBackward},
      {"rmsnorm", Rmsnorm},
      {"rmsnormBackward", RmsnormBackward},
      {"rope", Rope},
      {"attention", Attention},
      {"attentionBackward", AttentionBackward},
      {"attentionCached", AttentionCached},
      {"swiglu", Swiglu},
      {"swigluBackward", SwigluBackward},
      {"crossEntropy", CrossEntropy},
      {"crossEntropyBackward", CrossEntropyBackward},
      {"crossEntropyWithGrad", CrossEntropyWithGrad},
      {"adamw", AdamW},
      {"sumSquares", SumSquares},
      {"scale", Scale},
      {"add", Add},
      {"mul", Mul},
      {"axpy", Axpy},
      {"addRows", AddRows},
      {"sumRows", SumRows},
      {"transpose", Transpose},
      {"roundBf16", RoundBf16},
      {"lowRankProject", LowRankProject},
      {"lowRankExpand", LowRankExpand},
      {"lowRankReduce", LowRankReduce},
      {"setThreads", SetThreads},
      {"getThreads", GetThreads},
      {"slowWorkersForTest", SlowWorkersForTest},
      {"fmaPeak", FmaPeak},
      {"kernelName", KernelName},
      {"gemmKernels", GemmKernels},
      {"setGemmKernel", SetGemmKernel},
      {"kernelPaths", KernelPaths},
      {"setKernelPath", SetKernelPath},
      {"bf16Path", Bf16Path},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

}  // namespace

NODE_API_MODULE(retune_native, Init)
