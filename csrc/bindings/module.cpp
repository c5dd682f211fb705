// genai_rt._core: the only file that includes pybind11.
//
// Heavy calls release the GIL. Device buffers cross this boundary as integer addresses
// (tensor.data_ptr()) and a stream handle, so the core never sees torch.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "genai_rt/grammar/compiler.h"
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

void BindKv(py::module_& m) { (void)m; }

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "genai_rt native core: grammar engine, KV-cache management, CUDA kernels";
  BindBuildInfo(m);
  BindCudaKernels(m);
  BindGrammar(m);
  BindKv(m);
}
