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

/// \brief Runs job(i) for every i in [0, num_tasks) on up to num_threads threads (the caller is
/// one); tasks are claimed one by one, so threads the OS runs late simply take fewer. Returns
/// when all are done. Calls from several threads are serialized. job must not throw.
void ParallelFor(int num_tasks, int num_threads, const std::function<void(int)>& job);

}  // namespace genai_rt::quant
