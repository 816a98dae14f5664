// The non-GEMM kernels behind the Backend interface (src/backend/backend.ts). Sizes are validated by the caller
// (addon.cc); these functions trust them. Layouts are row-major, as in backend.ts.
#pragma once

#include <cstdint>

namespace rt {

struct AttentionShape {
  int64_t B, T, nHead, nKV, hd;
  float scale;
  const int32_t* segments;  // (B*T) or null
  int64_t window;           // sliding window: query i sees key j only when i - j < window; 0 = plain causal
};

// out (N, C) = weight[ids]; ids already checked to lie in [0, V).
void embedding(const float* weight, const int32_t* ids, float* out, int64_t N, int64_t C);
// dWeight (V, C) += dOut (N, C) scattered by ids; rows accumulate in token order.
void embedding_backward(const float* dOut, const int32_t* ids, float* dWeight, int64_t N, int64_t C);

void rmsnorm(const float* x, const float* w, float* out, float* rstd, int64_t N, int64_t C, float eps);
void rmsnorm_backward(const float* dOut, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                      int64_t N, int64_t C);

void rope(const float* x, float* out, const int32_t* positions, const float* cos, const float* sin, int64_t N,
          int64_t nHead, int64_t hd, bool inverse);

void attention(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s);
void attention_backward(const float* dOut, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, float* dq, float* dk, float* dv, const AttentionShape& s);

void swiglu(const float* gate, const float* up, float* out, int64_t n);
void swiglu_backward(const float* dOut, const float* gate, const float* up, float* dGate, float* dUp, int64_t n);

// targets already checked to be -100 or in [0, V).
void cross_entropy(const float* logits, const int32_t* targets, float* losses, float* lse, int64_t N, int64_t V);
void cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, const float* dLoss,
                            float* dLogits, int64_t N, int64_t V);
// Both, the gradient written over the logits; losses and lse bit-identical to cross_entropy's.
void cross_entropy_with_grad(float* logits, const int32_t* targets, float* losses, float* lse, const float* dLoss,
                             int64_t N, int64_t V);

struct AdamWHyper {
  double lr, beta1, beta2, eps, weightDecay, bc1, bc2;
};
void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWHyper& h);

double sum_squares(const float* x, int64_t n);
void scale(float* x, double s, int64_t n);
void add(const float* a, const float* b, float* out, int64_t n);
void mul(const float* a, const float* b, float* out, int64_t n);
void axpy(double alpha, const float* x, float* y, int64_t n);
// out (N, C) += bias (C) on every row.
void add_rows(float* out, const float* bias, int64_t N, int64_t C);
// out (C) += column sums of x (N, C), each column summed in row order.
void sum_rows(const float* x, float* out, int64_t N, int64_t C);
// dst (cols, rows) (=|+=) src (rows, cols)^T.
void transpose(const float* src, float* dst, int64_t rows, int64_t cols, bool accumulate);

// Low-rank products (low_rank.cc), r small. y (n, r) = s * x (n, F) @ w^T with w (r, F).
void low_rank_project(const float* x, const float* w, float* y, int64_t n, int64_t F, int64_t r, double s);
// out (n, F) += y (n, r) @ w (r, F).
void low_rank_expand(const float* y, const float* w, float* out, int64_t n, int64_t r, int64_t F);
// d (r, F) (=|+=) y^T (r, n) @ x (n, F).
void low_rank_reduce(const float* y, const float* x, float* d, int64_t n, int64_t r, int64_t F, bool accumulate);

}  // namespace rt
