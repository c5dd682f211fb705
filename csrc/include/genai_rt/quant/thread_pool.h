// \brief One process-wide pool of worker threads for the CPU kernels.
//
// Callers pass how many threads a call may use (the engine passes torch.get_num_threads(), so
// the pool and torch's intra-op threads take turns on the same cores instead of running side by
// side). Workers spin briefly after a job, then sleep: a decode step calls the kernels ~120
// times a token with tens of microseconds of Python between calls, and a futex wake-up per call
// would cost about as much as the work.
#pragma once

#include <functional>

namespace genai_rt::quant {

/// \brief Runs job(i) for i in [0, num_tasks) on up to num_tasks threads, i = 0 on the caller;
/// returns when all are done. Calls from several threads are serialized. job must not throw.
void ParallelFor(int num_tasks, const std::function<void(int)>& job);

}  // namespace genai_rt::quant
