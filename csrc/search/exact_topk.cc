// Exact top-k on CPU: a tiled scan that scores a block of rows against a block of queries in
// registers, then keeps a running top-k per query and thread; threads split the rows.
//
// NOTE: 64-row blocks (96 KB of fp32 at D = 384) stay in L2 while every 4-query block reads
// them, so at batch 64 each row leaves memory once per batch instead of once per query. At
// batch 1 the scan is bandwidth-bound, which is what fp16 storage halves.
#include "genai_rt/search/exact_topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define GENAI_RT_SEARCH_X86 1
#define GENAI_RT_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace genai_rt::search {
namespace {

constexpr int64_t kRowBlock = 64;
constexpr int64_t kQueryBlock = 4;
// Rows a thread must have to be worth starting: a thread start costs ~50 us, about what one
// thread needs to scan 8k rows of 384 floats at batch 1.
constexpr int64_t kMinRowsPerThread = 8192;

[[noreturn]] void Fail(const std::string& what) {
  throw std::invalid_argument("exact_top_k: " + what);
}

struct Candidate {
  float key;
  int64_t row;
};

// Larger key first; equal keys: the smaller row first, so every backend breaks ties alike.
inline bool Better(const Candidate& a, const Candidate& b) {
  return a.key > b.key || (a.key == b.key && a.row < b.row);
}

// The k best candidates seen so far; the heap's front is the worst of them.
class RunningTopK {
 public:
  explicit RunningTopK(int64_t k) : k_(k) { heap_.reserve(static_cast<size_t>(k)); }

  // The key a candidate must reach to have a chance (a cheap pre-check before Push).
  float threshold() const { return threshold_; }

  void Push(float key, int64_t row) {
    const Candidate c{key, row};
    if (static_cast<int64_t>(heap_.size()) < k_) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), Better);
      if (static_cast<int64_t>(heap_.size()) == k_) threshold_ = heap_.front().key;
    } else if (Better(c, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Better);
      heap_.back() = c;
      std::push_heap(heap_.begin(), heap_.end(), Better);
      threshold_ = heap_.front().key;
    }
  }

  const std::vector<Candidate>& candidates() const { return heap_; }

 private:
  int64_t k_;
  std::vector<Candidate> heap_;
  float threshold_ = -std::numeric_limits<float>::infinity();
};

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal half: normalize
      exponent = 113;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

inline float ToFloat(float x) { return x; }
inline float ToFloat(uint16_t x) { return HalfToFloat(x); }

template <typename RowT>
float DotPortable(const float* q, const RowT* x, int64_t dim) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t d = 0; d < dim; ++d) acc += q[d] * ToFloat(x[d]);
  return acc;
}

#ifdef GENAI_RT_SEARCH_X86
GENAI_RT_AVX2 inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
GENAI_RT_AVX2 inline __m256 Load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
GENAI_RT_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// out[i * RB + j] = <q_i, x_j> for QB queries and RB rows, all QB x RB sums in registers.
template <int QB, int RB, typename RowT>
GENAI_RT_AVX2 void DotTileAvx2(const float* q, const RowT* x, int64_t dim, float* out) {
  __m256 acc[QB][RB];
  for (int i = 0; i < QB; ++i)
    for (int j = 0; j < RB; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 xv[RB];
    for (int j = 0; j < RB; ++j) xv[j] = Load8(x + j * dim + d);
    for (int i = 0; i < QB; ++i) {
      const __m256 qv = _mm256_loadu_ps(q + i * dim + d);
      for (int j = 0; j < RB; ++j) acc[i][j] = _mm256_fmadd_ps(qv, xv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < QB; ++i) {
    for (int j = 0; j < RB; ++j) {
      float s = HorizontalSum(acc[i][j]);
      for (int64_t t = d; t < dim; ++t) s += q[i * dim + t] * ToFloat(x[j * dim + t]);
      out[i * RB + j] = s;
    }
  }
}
#endif

struct Problem {
  const float* queries;
  const void* rows;
  const float* row_norms;
  const uint32_t* allow;
  ExactSearchShape shape;
  Metric metric;
  bool avx2;
};

inline bool Allowed(const uint32_t* allow, int64_t row) {
  return allow == nullptr || ((allow[row >> 5] >> (row & 31)) & 1u);
}

bool NoneAllowed(const uint32_t* allow, int64_t begin, int64_t end) {
  if (allow == nullptr) return false;
  for (int64_t w = begin >> 5; w < (end + 31) >> 5; ++w) {
    if (allow[w] != 0) return false;
  }
  return true;
}

// dots[i * count + r] = <query qb + i, row first + r> for nq queries and count rows.
template <typename RowT>
void ScoreTile(const Problem& p, int64_t qb, int64_t nq, int64_t first, int64_t count,
               float* dots) {
  const int64_t dim = p.shape.dim;
  const float* q = p.queries + qb * dim;
  const RowT* x = static_cast<const RowT*>(p.rows) + first * dim;
#ifdef GENAI_RT_SEARCH_X86
  if (p.avx2) {
    float out[kQueryBlock * 8];
    if (nq == kQueryBlock) {
      int64_t r = 0;
      for (; r + 2 <= count; r += 2) {
        DotTileAvx2<4, 2>(q, x + r * dim, dim, out);
        for (int i = 0; i < 4; ++i) {
          dots[i * count + r] = out[i * 2];
          dots[i * count + r + 1] = out[i * 2 + 1];
        }
      }
      for (; r < count; ++r) {
        DotTileAvx2<4, 1>(q, x + r * dim, dim, out);
        for (int i = 0; i < 4; ++i) dots[i * count + r] = out[i];
      }
    } else {
      for (int64_t i = 0; i < nq; ++i) {
        int64_t r = 0;
        for (; r + 8 <= count; r += 8) {
          DotTileAvx2<1, 8>(q + i * dim, x + r * dim, dim, dots + i * count + r);
        }
        for (; r < count; ++r) DotTileAvx2<1, 1>(q + i * dim, x + r * dim, dim, dots + i * count + r);
      }
    }
    return;
  }
#endif
  for (int64_t i = 0; i < nq; ++i) {
    for (int64_t r = 0; r < count; ++r) dots[i * count + r] = DotPortable(q + i * dim, x + r * dim, dim);
  }
}

// Scans rows [begin, end) for every query into tops (one RunningTopK per query).
template <typename RowT>
void ScanRows(const Problem& p, int64_t begin, int64_t end, std::vector<RunningTopK>& tops) {
  const int64_t num_queries = p.shape.num_queries;
  std::vector<float> dots(static_cast<size_t>(kQueryBlock * kRowBlock));
  const bool l2 = p.metric == Metric::kL2;
  for (int64_t block = begin; block < end; block += kRowBlock) {
    const int64_t count = std::min(kRowBlock, end - block);
    if (NoneAllowed(p.allow, block, block + count)) continue;
    for (int64_t qb = 0; qb < num_queries; qb += kQueryBlock) {
      const int64_t nq = std::min(kQueryBlock, num_queries - qb);
      ScoreTile<RowT>(p, qb, nq, block, count, dots.data());
      for (int64_t i = 0; i < nq; ++i) {
        RunningTopK& top = tops[static_cast<size_t>(qb + i)];
        const float* d = dots.data() + i * count;
        for (int64_t r = 0; r < count; ++r) {
          const int64_t row = block + r;
          // Ranking key, larger is better: <q,x> for IP; 2<q,x> - ||x||^2 = ||q||^2 - ||q-x||^2
          // for L2 (||q||^2 is the same for every row of a query).
          const float key = l2 ? 2.0f * d[r] - p.row_norms[row] : d[r];
          if (key >= top.threshold() && Allowed(p.allow, row)) top.Push(key, row);
        }
      }
    }
  }
}

void Validate(const float* queries, const void* rows, Storage storage, const float* row_norms,
              const ExactSearchShape& s, Metric metric, int num_threads, const float* out_scores,
              const int64_t* out_rows) {
  if (s.num_queries < 0) Fail("num_queries must be >= 0, got " + std::to_string(s.num_queries));
  if (s.num_rows < 0) Fail("num_rows must be >= 0, got " + std::to_string(s.num_rows));
  if (s.dim < 1) Fail("dim must be >= 1, got " + std::to_string(s.dim));
  if (s.k < 1) Fail("k must be >= 1, got " + std::to_string(s.k));
  if (num_threads < 1) Fail("num_threads must be >= 1, got " + std::to_string(num_threads));
  if (storage != Storage::kFloat32 && storage != Storage::kFloat16) Fail("unknown storage type");
  if (metric != Metric::kInnerProduct && metric != Metric::kL2) Fail("unknown metric");
  if (s.num_queries > 0 && (queries == nullptr || out_scores == nullptr || out_rows == nullptr)) {
    Fail("null queries or output buffer");
  }
  if (s.num_rows > 0 && rows == nullptr) Fail("null rows");
  if (metric == Metric::kL2 && s.num_rows > 0 && row_norms == nullptr) {
    Fail("the L2 metric needs row_norms");
  }
}

}  // namespace

bool ExactTopKUsesAvx2() {
#ifdef GENAI_RT_SEARCH_X86
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

void ExactTopK(const float* queries, const void* rows, Storage storage, const float* row_norms,
               const uint32_t* allow, const ExactSearchShape& shape, Metric metric,
               int num_threads, float* out_scores, int64_t* out_rows) {
  Validate(queries, rows, storage, row_norms, shape, metric, num_threads, out_scores, out_rows);
  const int64_t B = shape.num_queries;
  const int64_t N = shape.num_rows;
  const int64_t k = shape.k;
  if (B == 0) return;
  const Problem p{queries, rows, row_norms, allow, shape, metric, ExactTopKUsesAvx2()};

  // Row ranges in whole blocks (a multiple of 32, so no two threads share a bitmap word).
  const int64_t num_blocks = (N + kRowBlock - 1) / kRowBlock;
  const int64_t threads = std::max<int64_t>(
      1, std::min<int64_t>({num_threads, N / kMinRowsPerThread, std::max<int64_t>(num_blocks, 1)}));
  std::vector<std::vector<RunningTopK>> tops(static_cast<size_t>(threads));
  for (auto& t : tops) t.assign(static_cast<size_t>(B), RunningTopK(k));
  auto run = [&](int64_t t) {
    const int64_t first_block = num_blocks * t / threads;
    const int64_t last_block = num_blocks * (t + 1) / threads;
    const int64_t begin = first_block * kRowBlock;
    const int64_t end = std::min(N, last_block * kRowBlock);
    if (storage == Storage::kFloat16) {
      ScanRows<uint16_t>(p, begin, end, tops[static_cast<size_t>(t)]);
    } else {
      ScanRows<float>(p, begin, end, tops[static_cast<size_t>(t)]);
    }
  };
  std::vector<std::thread> workers;
  for (int64_t t = 1; t < threads; ++t) workers.emplace_back(run, t);
  run(0);
  for (auto& w : workers) w.join();

  const bool l2 = metric == Metric::kL2;
  const float worst = l2 ? std::numeric_limits<float>::infinity()
                         : -std::numeric_limits<float>::infinity();
  std::vector<Candidate> merged;
  for (int64_t q = 0; q < B; ++q) {
    merged.clear();
    for (const auto& t : tops) {
      const auto& c = t[static_cast<size_t>(q)].candidates();
      merged.insert(merged.end(), c.begin(), c.end());
    }
    const int64_t found = std::min<int64_t>(k, static_cast<int64_t>(merged.size()));
    std::partial_sort(merged.begin(), merged.begin() + found, merged.end(), Better);
    float query_norm = 0.0f;
    if (l2) {
      for (int64_t d = 0; d < shape.dim; ++d) {
        query_norm += queries[q * shape.dim + d] * queries[q * shape.dim + d];
      }
    }
    for (int64_t i = 0; i < k; ++i) {
      const size_t o = static_cast<size_t>(q * k + i);
      if (i < found) {
        const Candidate& c = merged[static_cast<size_t>(i)];
        out_scores[o] = l2 ? std::max(0.0f, query_norm - c.key) : c.key;
        out_rows[o] = c.row;
      } else {
        out_scores[o] = worst;
        out_rows[o] = -1;
      }
    }
  }
}

}  // namespace genai_rt::search
