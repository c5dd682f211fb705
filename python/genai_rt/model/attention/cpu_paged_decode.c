/* Decode attention straight from the paged KV cache on CPU (fp32), compiled and loaded by
 * cpu_kernels.py. Each sequence reads its K and V blocks once, in place: no gathered copy, no
 * padding to the longest sequence. A block's rows ([BS, KVH, D]) are read in order, all heads
 * of a token together, so the reads stream (2x faster than per-head passes, measured).
 *
 * q, out:        [S, H, D] contiguous, H = KVH * group
 * kv_cache:      [2, NB, BS, KVH, D] contiguous (0 = keys, 1 = values)
 * block_tables:  [S, bt_stride] int64; entries past ceil(seq_len / BS) are not read
 * seq_lens:      [S] int64, each >= 1
 * scratch:       [H * max(seq_lens)] floats
 * The caller checks that every block id that will be read is in [0, NB).
 */
#include <math.h>
#include <stdint.h>

void paged_decode_attention_f32(const float* q, const float* kv_cache,
                                const int64_t* block_tables, int64_t bt_stride,
                                const int64_t* seq_lens, float* out, int64_t S, int64_t H,
                                int64_t KVH, int64_t D, int64_t NB, int64_t BS, float scale,
                                float* scratch) {
  const int64_t group = H / KVH;
  const int64_t token_stride = KVH * D;
  const float* k_base = kv_cache;
  const float* v_base = kv_cache + NB * BS * KVH * D;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t len = seq_lens[s];
    const int64_t* table = block_tables + s * bt_stride;
    const float* qs = q + s * H * D;
    float* os = out + s * H * D;
    /* scores: [H, len]; token rows of a block are contiguous ([BS, KVH, D]) */
    for (int64_t t0 = 0; t0 < len; t0 += BS) {
      const float* kb = k_base + table[t0 / BS] * BS * token_stride;
      const int64_t n = len - t0 < BS ? len - t0 : BS;
      for (int64_t i = 0; i < n; ++i) {
        const float* krow = kb + i * token_stride;
        for (int64_t h = 0; h < H; ++h) {
          const float* k = krow + (h / group) * D;
          const float* qh = qs + h * D;
          float dot = 0.f;
#pragma omp simd reduction(+ : dot)
          for (int64_t d = 0; d < D; ++d) dot += qh[d] * k[d];
          scratch[h * len + t0 + i] = dot * scale;
        }
      }
    }
    for (int64_t h = 0; h < H; ++h) {
      float* sc = scratch + h * len;
      float m = -INFINITY;
      for (int64_t t = 0; t < len; ++t) m = sc[t] > m ? sc[t] : m;
      float sum = 0.f;
      for (int64_t t = 0; t < len; ++t) {
        sc[t] = expf(sc[t] - m);
        sum += sc[t];
      }
      const float inv = 1.f / sum;
      for (int64_t t = 0; t < len; ++t) sc[t] *= inv;
      for (int64_t d = 0; d < D; ++d) os[h * D + d] = 0.f;
    }
    for (int64_t t0 = 0; t0 < len; t0 += BS) {
      const float* vb = v_base + table[t0 / BS] * BS * token_stride;
      const int64_t n = len - t0 < BS ? len - t0 : BS;
      for (int64_t i = 0; i < n; ++i) {
        const float* vrow = vb + i * token_stride;
        for (int64_t h = 0; h < H; ++h) {
          const float* v = vrow + (h / group) * D;
          const float p = scratch[h * len + t0 + i];
          float* o = os + h * D;
#pragma omp simd
          for (int64_t d = 0; d < D; ++d) o[d] += p * v[d];
        }
      }
    }
  }
}
