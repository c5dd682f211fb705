// genai_rt._core: the only file that includes pybind11.
//
// Heavy calls release the GIL. Device buffers cross this boundary as integer addresses
// (tensor.data_ptr()) and a stream handle, so the core never sees torch.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "genai_rt/attention/cpu_paged_decode.h"
#include "genai_rt/grammar/bitmask_apply.h"
#include "genai_rt/grammar/compiler.h"
#include "genai_rt/kv/kv_cache_manager.h"
#include "genai_rt/search/exact_topk.h"
#include "genai_rt/version.h"

#ifdef GENAI_RT_WITH_CUDA
#include "genai_rt/cuda_kernels.h"
#endif

namespace py = pybind11;

namespace {

// ---------------------------------------------------------------------------------------------
// Build facts and CUDA kernels
// ---------------------------------------------------------------------------------------------

#ifdef GENAI_RT_WITH_CUDA
void CheckCuda(int error, const char* what) {
  if (error != 0) {
    throw std::runtime_error(std::string(what) + " failed: " + genai_rt::cuda::ErrorString(error));
  }
}
#endif

void BindBuildInfo(py::module_& m) {
  m.def("version", &genai_rt::Version, "Version of the native core.");
#ifdef GENAI_RT_WITH_CUDA
  m.attr("built_with_cuda") = true;
  m.def("cuda_device_count", &genai_rt::cuda::DeviceCount,
        "Number of CUDA devices the driver reports (0 without a driver).");
#else
  m.attr("built_with_cuda") = false;
  m.def("cuda_device_count", []() { return 0; },
        "Always 0: this build has no CUDA kernels (rebuild with GENAI_RT_CUDA=ON).");
#endif
}

void BindCpuBitmask(py::module_& m) {
  m.def(
      "apply_token_bitmask_cpu",
      [](std::uintptr_t logits, int dtype, int64_t num_rows, int64_t vocab_size,
         int64_t logits_stride, std::uintptr_t bitmask, int64_t bitmask_words,
         int64_t bitmask_stride, std::uintptr_t indices, int64_t num_indices) {
        if (dtype < 0 || dtype > 2) throw std::invalid_argument("dtype code must be 0, 1 or 2");
        if (logits == 0 || bitmask == 0) throw std::invalid_argument("null logits or bitmask");
        py::gil_scoped_release release;
        genai_rt::grammar::ApplyTokenBitmaskCpu(
            reinterpret_cast<void*>(logits), static_cast<genai_rt::grammar::LogitsType>(dtype),
            num_rows, vocab_size, logits_stride, reinterpret_cast<const int32_t*>(bitmask),
            bitmask_words, bitmask_stride, reinterpret_cast<const int32_t*>(indices),
            num_indices);
      },
      py::arg("logits"), py::arg("dtype"), py::arg("num_rows"), py::arg("vocab_size"),
      py::arg("logits_stride"), py::arg("bitmask"), py::arg("bitmask_words"),
      py::arg("bitmask_stride"), py::arg("indices"), py::arg("num_indices"),
      "In-place token-bitmask apply on CPU buffers (addresses from tensor.data_ptr()).");
}

void BindCudaKernels(py::module_& m) {
#ifdef GENAI_RT_WITH_CUDA
  auto cuda = m.def_submodule("cuda", "CUDA kernels over raw device pointers.");
  cuda.def(
      "apply_token_bitmask_inplace",
      [](std::uintptr_t logits, int dtype, int64_t num_rows, int64_t vocab_size,
         int64_t logits_stride, std::uintptr_t bitmask, int64_t bitmask_words,
         int64_t bitmask_stride, std::uintptr_t indices, int64_t num_indices,
         std::uintptr_t stream) {
        if (dtype < 0 || dtype > 2) throw std::invalid_argument("dtype code must be 0, 1 or 2");
        int error;
        {
          py::gil_scoped_release release;
          error = genai_rt::cuda::ApplyTokenBitmaskInplace(
              reinterpret_cast<void*>(logits), static_cast<genai_rt::cuda::DType>(dtype), num_rows,
              vocab_size, logits_stride, reinterpret_cast<const int32_t*>(bitmask), bitmask_words,
              bitmask_stride, reinterpret_cast<const int32_t*>(indices), num_indices,
              reinterpret_cast<void*>(stream));
        }
        CheckCuda(error, "apply_token_bitmask_inplace");
      },
      py::arg("logits"), py::arg("dtype"), py::arg("num_rows"), py::arg("vocab_size"),
      py::arg("logits_stride"), py::arg("bitmask"), py::arg("bitmask_words"),
      py::arg("bitmask_stride"), py::arg("indices"), py::arg("num_indices"), py::arg("stream"));
  cuda.attr("max_top_k") = genai_rt::cuda::kMaxTopK;
  cuda.def(
      "top_k",
      [](std::uintptr_t input, int dtype, int64_t rows, int64_t cols, int64_t input_stride,
         int64_t k, std::uintptr_t out_values, std::uintptr_t out_indices, std::uintptr_t stream) {
        if (dtype < 0 || dtype > 2) throw std::invalid_argument("dtype code must be 0, 1 or 2");
        if (k < 1 || k > genai_rt::cuda::kMaxTopK || k > cols) {
          throw std::invalid_argument("top_k needs 1 <= k <= min(1024, cols), got k=" +
                                      std::to_string(k) + " cols=" + std::to_string(cols));
        }
        int error;
        {
          py::gil_scoped_release release;
          error = genai_rt::cuda::TopK(reinterpret_cast<const void*>(input),
                                       static_cast<genai_rt::cuda::DType>(dtype), rows, cols,
                                       input_stride, k, reinterpret_cast<void*>(out_values),
                                       reinterpret_cast<int64_t*>(out_indices),
                                       reinterpret_cast<void*>(stream));
        }
        CheckCuda(error, "top_k");
      },
      "Values and int64 indices of the k largest entries per row, sorted descending.",
      py::arg("input"), py::arg("dtype"), py::arg("rows"), py::arg("cols"),
      py::arg("input_stride"), py::arg("k"), py::arg("out_values"), py::arg("out_indices"),
      py::arg("stream"));
#else
  (void)m;
#endif
}

// ---------------------------------------------------------------------------------------------
// Grammar (csrc/grammar)
// ---------------------------------------------------------------------------------------------

void BindGrammar(py::module_& m) {
  namespace gr = genai_rt::grammar;
  py::register_exception<gr::GrammarError>(m, "GrammarError", PyExc_ValueError);

  py::class_<gr::Vocabulary, std::shared_ptr<gr::Vocabulary>>(
      m, "Vocabulary", "Token byte strings, EOS/special ids and the token trie masks walk.")
      .def(py::init([](std::vector<std::string> token_bytes, int32_t vocab_size,
                       std::vector<int32_t> eos_token_ids, std::vector<int32_t> special_token_ids) {
             py::gil_scoped_release release;
             return std::make_shared<gr::Vocabulary>(std::move(token_bytes), vocab_size,
                                                     std::move(eos_token_ids),
                                                     std::move(special_token_ids));
           }),
           py::arg("token_bytes"), py::arg("vocab_size"), py::arg("eos_token_ids"),
           py::arg("special_token_ids"))
      .def_property_readonly("size", &gr::Vocabulary::size)
      .def_property_readonly("num_tokens", &gr::Vocabulary::num_tokens)
      .def_property_readonly("eos_token_ids", &gr::Vocabulary::eos_token_ids)
      .def_property_readonly("trie_nodes",
                             [](const gr::Vocabulary& v) { return v.trie().nodes.size(); })
      .def_property_readonly("memory_bytes", &gr::Vocabulary::MemoryBytes);

  py::class_<gr::CompileLimits>(m, "CompileLimits", "Bounds on one grammar compile.")
      .def(py::init<>())
      .def_readwrite("max_nfa_states", &gr::CompileLimits::max_nfa_states)
      .def_readwrite("max_dfa_states", &gr::CompileLimits::max_dfa_states)
      .def_readwrite("max_table_bytes", &gr::CompileLimits::max_table_bytes)
      .def_readwrite("max_compile_ms", &gr::CompileLimits::max_compile_ms);

  py::class_<gr::CompiledGrammar, std::shared_ptr<gr::CompiledGrammar>>(
      m, "CompiledGrammar", "An automaton bound to a vocabulary, with its mask cache.")
      .def_property_readonly("memory_bytes", &gr::CompiledGrammar::MemoryBytes)
      .def_property_readonly("cached_masks", &gr::CompiledGrammar::CachedMasks)
      .def_property_readonly("num_states",
                             [](const gr::CompiledGrammar& g) { return g.automaton().num_states(); })
      .def_property_readonly("vocab_size",
                             [](const gr::CompiledGrammar& g) { return g.vocab().size(); });

  m.def(
      "compile_ebnf",
      [](const std::string& text, const std::string& root,
         std::shared_ptr<gr::Vocabulary> vocab, const gr::CompileLimits& limits,
         size_t cache_bytes) {
        py::gil_scoped_release release;
        return gr::CompileEbnf(text, root, std::move(vocab), limits, cache_bytes);
      },
      py::arg("text"), py::arg("root"), py::arg("vocab"), py::arg("limits"),
      py::arg("cache_bytes") = gr::kDefaultMaskCacheBytes, "Compiles GBNF text.");
  m.def(
      "compile_regex",
      [](const std::string& pattern, std::shared_ptr<gr::Vocabulary> vocab,
         const gr::CompileLimits& limits, size_t cache_bytes) {
        py::gil_scoped_release release;
        return gr::CompileRegex(pattern, std::move(vocab), limits, cache_bytes);
      },
      py::arg("pattern"), py::arg("vocab"), py::arg("limits"),
      py::arg("cache_bytes") = gr::kDefaultMaskCacheBytes, "Compiles a full-match regex.");

  py::class_<gr::Matcher>(m, "GrammarMatcher", "Per-request pushdown matcher over bytes.")
      .def(py::init<std::shared_ptr<gr::CompiledGrammar>>(), py::arg("grammar"))
      .def("accept_token", &gr::Matcher::AcceptToken, py::arg("token_id"))
      .def(
          "accept_bytes",
          [](gr::Matcher& self, const py::bytes& data) {
            return self.AcceptBytes(static_cast<std::string>(data));
          },
          py::arg("data"))
      .def(
          "fill_next_token_bitmask",
          [](gr::Matcher& self, std::uintptr_t address) {
            py::gil_scoped_release release;
            self.FillNextTokenBitmask(reinterpret_cast<uint32_t*>(address));
          },
          py::arg("address"), "Writes vocab num_words int32 words at a host address.")
      .def("rollback", &gr::Matcher::Rollback, py::arg("num_tokens"))
      .def("is_terminated", &gr::Matcher::IsTerminated)
      .def("is_accepting", [](const gr::Matcher& self) { return self.IsAccepting(); })
      .def("jump_forward_bytes",
           [](gr::Matcher& self) { return py::bytes(self.JumpForwardBytes()); })
      .def("reset", &gr::Matcher::Reset)
      .def_property_readonly("num_history", &gr::Matcher::num_history);

  m.def(
      "fill_next_token_bitmask_batch",
      [](const std::vector<gr::Matcher*>& matchers, const std::vector<std::uintptr_t>& addresses,
         int num_threads) {
        std::vector<uint32_t*> masks;
        for (std::uintptr_t a : addresses) masks.push_back(reinterpret_cast<uint32_t*>(a));
        py::gil_scoped_release release;
        gr::FillNextTokenBitmaskBatch(matchers, masks, num_threads);
      },
      py::arg("matchers"), py::arg("addresses"), py::arg("num_threads") = 0,
      "Fills one mask per matcher on a thread pool with the GIL released.");
}

// ---------------------------------------------------------------------------------------------
// KV cache (csrc/kv)
// ---------------------------------------------------------------------------------------------

template <typename T>
T* MutableData(py::array_t<T, py::array::c_style>& array, const char* name, int ndim) {
  if (array.ndim() != ndim) {
    throw std::invalid_argument(std::string(name) + " must have " + std::to_string(ndim) +
                                " dimension(s), got " + std::to_string(array.ndim()));
  }
  return array.mutable_data();
}

void BindKv(py::module_& m) {
  namespace kv = genai_rt::kv;
  m.def(
      "hash_block_tokens",
      [](uint64_t parent_hash, const std::vector<int32_t>& tokens) {
        return kv::HashBlockTokens(parent_hash, tokens.data(), static_cast<int32_t>(tokens.size()));
      },
      py::arg("parent_hash"), py::arg("tokens"), "Chained hash of one KV block's token ids.");
  m.attr("ROOT_BLOCK_HASH") = kv::kRootBlockHash;

  // Arrays are taken without conversion (py::array::c_style + noconvert) so a wrong dtype is an
  // error instead of a silent copy that BuildBatch would fill and then throw away.
  using I64 = py::array_t<int64_t, py::array::c_style>;
  using I32 = py::array_t<int32_t, py::array::c_style>;
  py::class_<kv::KvCacheManager>(m, "KvCacheManager",
                                 "Paged KV blocks, prefix cache and per-sequence block tables.")
      .def(py::init<int32_t, int32_t, bool>(), py::arg("num_blocks"), py::arg("block_size"),
           py::arg("enable_prefix_caching"))
      .def("add_sequence", &kv::KvCacheManager::AddSequence, py::arg("seq_id"), py::arg("prompt"))
      .def("append_tokens", &kv::KvCacheManager::AppendTokens, py::arg("seq_id"),
           py::arg("tokens"))
      .def("match_prefix", &kv::KvCacheManager::MatchPrefix, py::arg("seq_id"))
      .def("fork_prefix", &kv::KvCacheManager::ForkPrefix, py::arg("parent_id"),
           py::arg("child_id"), py::arg("num_tokens"))
      .def("allocate", &kv::KvCacheManager::Allocate, py::arg("seq_id"), py::arg("num_new"))
      .def("blocks_needed", &kv::KvCacheManager::BlocksNeeded, py::arg("seq_id"),
           py::arg("num_new"))
      .def("commit", &kv::KvCacheManager::Commit, py::arg("seq_id"), py::arg("num_new"))
      .def("commit_batch", &kv::KvCacheManager::CommitBatch, py::arg("seq_ids"),
           py::arg("num_new"))
      .def("append_token_batch", &kv::KvCacheManager::AppendTokenBatch, py::arg("seq_ids"),
           py::arg("tokens"))
      .def("reset", &kv::KvCacheManager::Reset, py::arg("seq_id"))
      .def("free", &kv::KvCacheManager::Free, py::arg("seq_id"))
      .def(
          "build_batch",
          [](const kv::KvCacheManager& self, const std::vector<int64_t>& seq_ids,
             const std::vector<int32_t>& num_new, I64 input_ids, I64 positions, I64 slot_mapping,
             I32 block_tables, I32 seq_lens, I32 query_start_loc) {
            kv::BatchBuffers out{};
            out.input_ids = MutableData(input_ids, "input_ids", 1);
            out.positions = MutableData(positions, "positions", 1);
            out.slot_mapping = MutableData(slot_mapping, "slot_mapping", 1);
            out.block_tables = MutableData(block_tables, "block_tables", 2);
            out.seq_lens = MutableData(seq_lens, "seq_lens", 1);
            out.query_start_loc = MutableData(query_start_loc, "query_start_loc", 1);
            out.max_tokens = std::min({input_ids.shape(0), positions.shape(0),
                                       slot_mapping.shape(0)});
            out.max_seqs = std::min({block_tables.shape(0), seq_lens.shape(0),
                                     query_start_loc.shape(0) - 1});
            out.block_table_width = block_tables.shape(1);
            kv::BatchShape shape;
            {
              py::gil_scoped_release release;
              shape = self.BuildBatch(seq_ids, num_new, out);
            }
            py::dict d;
            d["num_tokens"] = shape.num_tokens;
            d["num_seqs"] = shape.num_seqs;
            d["max_blocks"] = shape.max_blocks;
            d["max_query_len"] = shape.max_query_len;
            d["max_seq_len"] = shape.max_seq_len;
            return d;
          },
          py::arg("seq_ids"), py::arg("num_new"), py::arg("input_ids").noconvert(),
          py::arg("positions").noconvert(), py::arg("slot_mapping").noconvert(),
          py::arg("block_tables").noconvert(), py::arg("seq_lens").noconvert(),
          py::arg("query_start_loc").noconvert(),
          "Fills the step's flat batch buffers; returns the used sizes.")
      .def("has_sequence", &kv::KvCacheManager::HasSequence, py::arg("seq_id"))
      .def("num_tokens", &kv::KvCacheManager::NumTokens, py::arg("seq_id"))
      .def("num_computed", &kv::KvCacheManager::NumComputed, py::arg("seq_id"))
      .def("block_table", &kv::KvCacheManager::BlockTable, py::arg("seq_id"))
      .def_property_readonly("num_sequences", &kv::KvCacheManager::NumSequences)
      .def_property_readonly("num_used_blocks", &kv::KvCacheManager::NumUsedBlocks)
      .def_property_readonly("num_blocks",
                             [](const kv::KvCacheManager& s) { return s.Pool().NumBlocks(); })
      .def_property_readonly("block_size",
                             [](const kv::KvCacheManager& s) { return s.Pool().BlockSize(); })
      .def_property_readonly("num_free_blocks",
                             [](const kv::KvCacheManager& s) { return s.Pool().NumFree(); })
      .def_property_readonly("num_evictable_blocks",
                             [](const kv::KvCacheManager& s) { return s.Pool().NumEvictable(); })
      .def_property_readonly("num_available_blocks",
                             [](const kv::KvCacheManager& s) { return s.Pool().NumAvailable(); })
      .def_property_readonly("prefix_query_tokens", &kv::KvCacheManager::PrefixQueryTokens)
      .def_property_readonly("prefix_hit_tokens", &kv::KvCacheManager::PrefixHitTokens)
      .def(
          "ref_count", [](const kv::KvCacheManager& s, int32_t b) { return s.Pool().RefCount(b); },
          py::arg("block"))
      .def(
          "is_cached", [](const kv::KvCacheManager& s, int32_t b) { return s.Pool().IsCached(b); },
          py::arg("block"))
      .def("eviction_order",
           [](const kv::KvCacheManager& s) { return s.Pool().EvictionOrder(); })
      .def("reset_prefix_cache", [](kv::KvCacheManager& s) { s.Pool().ResetPrefixCache(); })
      .def("check_invariants", &kv::KvCacheManager::CheckInvariants);
}

// ---------------------------------------------------------------------------------------------
// CPU attention (csrc/attention)
// ---------------------------------------------------------------------------------------------

void BindCpuAttention(py::module_& m) {
  m.def(
      "cpu_paged_decode_attention",
      [](std::uintptr_t out, std::uintptr_t query, std::uintptr_t kv_cache,
         std::uintptr_t block_tables, std::uintptr_t seq_lens, int64_t num_seqs,
         int64_t num_heads, int64_t num_kv_heads, int64_t head_dim, int64_t num_blocks,
         int64_t block_size, int64_t max_blocks_per_seq, int64_t block_table_stride, float scale,
         int num_threads) {
        genai_rt::attention::PagedDecodeShape shape;
        shape.num_seqs = num_seqs;
        shape.num_heads = num_heads;
        shape.num_kv_heads = num_kv_heads;
        shape.head_dim = head_dim;
        shape.num_blocks = num_blocks;
        shape.block_size = block_size;
        shape.max_blocks_per_seq = max_blocks_per_seq;
        shape.block_table_stride = block_table_stride;
        // Shapes, lengths and block ids are checked inside before any work; a
        // std::invalid_argument arrives in Python as ValueError.
        py::gil_scoped_release release;
        genai_rt::attention::CpuPagedDecodeAttention(
            reinterpret_cast<const float*>(query), reinterpret_cast<const float*>(kv_cache),
            reinterpret_cast<const int64_t*>(block_tables),
            reinterpret_cast<const int64_t*>(seq_lens), shape, scale, num_threads,
            reinterpret_cast<float*>(out));
      },
      "fp32 decode attention of one token per sequence straight from the paged KV cache, split "
      "over num_threads threads. Pointers are host addresses (tensor.data_ptr()); see "
      "genai_rt/attention/cpu_paged_decode.h for the layouts.",
      py::arg("out"), py::arg("query"), py::arg("kv_cache"), py::arg("block_tables"),
      py::arg("seq_lens"), py::arg("num_seqs"), py::arg("num_heads"), py::arg("num_kv_heads"),
      py::arg("head_dim"), py::arg("num_blocks"), py::arg("block_size"),
      py::arg("max_blocks_per_seq"), py::arg("block_table_stride"), py::arg("scale"),
      py::arg("num_threads"));
  m.def(
      "cpu_paged_decode_split",
      [](const std::vector<int64_t>& seq_lens, int num_threads) {
        return genai_rt::attention::SplitByWork(seq_lens.data(),
                                                static_cast<int64_t>(seq_lens.size()),
                                                num_threads);
      },
      "The [first, last) sequence ranges cpu_paged_decode_attention gives its threads.",
      py::arg("seq_lens"), py::arg("num_threads"));
  m.attr("cpu_paged_decode_min_tokens_per_thread") =
      genai_rt::attention::kMinTokensPerThread;
}

// ---------------------------------------------------------------------------------------------
// Vector search (csrc/search): exact CPU top-k with an allow-bitmap, for genai_rt.retrieval
// ---------------------------------------------------------------------------------------------

void BindSearch(py::module_& m) {
  namespace se = genai_rt::search;
  using F32 = py::array_t<float, py::array::c_style>;
  using U32 = py::array_t<uint32_t, py::array::c_style>;
  m.def(
      "exact_top_k",
      [](F32 queries, py::array rows, std::optional<F32> row_norms, std::optional<U32> allow,
         int64_t k, int metric, int num_threads) {
        if (queries.ndim() != 2) throw std::invalid_argument("queries must be [B, D]");
        if (rows.ndim() != 2) throw std::invalid_argument("rows must be [N, D]");
        if (!(rows.flags() & py::array::c_style)) {
          throw std::invalid_argument("rows must be C-contiguous");
        }
        se::Storage storage;
        if (rows.dtype().is(py::dtype::of<float>())) {
          storage = se::Storage::kFloat32;
        } else if (rows.dtype().kind() == 'f' && rows.itemsize() == 2) {
          storage = se::Storage::kFloat16;
        } else {
          throw std::invalid_argument("rows must be float32 or float16");
        }
        se::ExactSearchShape shape;
        shape.num_queries = queries.shape(0);
        shape.num_rows = rows.shape(0);
        shape.dim = queries.shape(1);
        shape.k = k;
        if (rows.shape(1) != shape.dim) {
          throw std::invalid_argument("rows have dimension " + std::to_string(rows.shape(1)) +
                                      ", queries " + std::to_string(shape.dim));
        }
        if (row_norms && row_norms->size() != shape.num_rows) {
          throw std::invalid_argument("row_norms must have one entry per row");
        }
        if (allow && allow->size() < (shape.num_rows + 31) / 32) {
          throw std::invalid_argument("allow must have ceil(N / 32) uint32 words");
        }
        if (metric != 0 && metric != 1) throw std::invalid_argument("metric must be 0 or 1");
        F32 scores({shape.num_queries, std::max<int64_t>(k, 0)});
        py::array_t<int64_t> ids({shape.num_queries, std::max<int64_t>(k, 0)});
        const float* norms = row_norms ? row_norms->data() : nullptr;
        const uint32_t* bits = allow ? allow->data() : nullptr;
        {
          py::gil_scoped_release release;
          se::ExactTopK(queries.data(), rows.data(), storage, norms, bits, shape,
                        static_cast<se::Metric>(metric), num_threads, scores.mutable_data(),
                        ids.mutable_data());
        }
        return py::make_tuple(scores, ids);
      },
      py::arg("queries").noconvert(), py::arg("rows"), py::arg("row_norms").noconvert(),
      py::arg("allow").noconvert(), py::arg("k"), py::arg("metric"), py::arg("num_threads"),
      "(scores [B, k] float32, rows [B, k] int64) of the k best allowed rows per query; "
      "metric 0 = inner product (larger first), 1 = squared L2 (smaller first); row -1 past "
      "the allowed rows. See genai_rt/search/exact_topk.h.");
  m.attr("exact_top_k_uses_avx2") = se::ExactTopKUsesAvx2();
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "genai_rt native core: grammar engine, KV-cache management, CUDA kernels";
  BindBuildInfo(m);
  BindCpuBitmask(m);
  BindCudaKernels(m);
  BindGrammar(m);
  BindKv(m);
  BindCpuAttention(m);
  BindSearch(m);
}
