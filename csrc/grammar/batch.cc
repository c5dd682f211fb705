// Batch mask filling on a persistent worker pool (spawning threads per call cost ~40 us on
// this 2-core machine, more than a cached mask fill of a whole batch).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "genai_rt/grammar/matcher.h"

namespace genai_rt::grammar {
namespace {

class WorkerPool {
 public:
  explicit WorkerPool(int workers) : pid_(getpid()) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { Loop(w); });
  }

  /// Intentionally never destroyed: workers wait on a condition variable at process exit.
  static WorkerPool& Get() {
    static std::mutex mu;
    static WorkerPool* pool = nullptr;
    std::lock_guard<std::mutex> lock(mu);
    // A forked child has no worker threads: start a new pool there (the old one is leaked).
    if (pool == nullptr || pool->pid_ != getpid()) {
      int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      pool = new WorkerPool(hw - 1);
    }
    return *pool;
  }

  int size() const { return static_cast<int>(threads_.size()); }

  /// Runs fn(i) for every i in [0, n) on the caller plus up to `helpers` workers.
  void ParallelFor(size_t n, int helpers, const std::function<void(size_t)>& fn) {
    std::lock_guard<std::mutex> call_lock(call_mu_);  // one batch at a time
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      n_ = n;
      next_.store(0);
      helpers_ = std::min(helpers, size());
      active_ = helpers_;
      ++generation_;
    }
    cv_.notify_all();
    Drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return active_ == 0; });
    job_ = nullptr;
  }

 private:
  void Drain() {
    for (size_t i = next_.fetch_add(1); i < n_; i = next_.fetch_add(1)) (*job_)(i);
  }

  void Loop(int index) {
    uint64_t seen = 0;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (index >= helpers_) continue;
      }
      Drain();
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) done_cv_.notify_one();
    }
  }

  pid_t pid_;
  std::vector<std::thread> threads_;
  std::mutex call_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  int helpers_ = 0;
  int active_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace

void FillNextTokenBitmaskBatch(const std::vector<Matcher*>& matchers,
                               const std::vector<uint32_t*>& masks, int num_threads) {
  if (matchers.size() != masks.size()) {
    throw std::invalid_argument("matchers and masks differ in length");
  }
  // Cached masks take ~1 us: fill those here and hand only the misses (walks) to the pool.
  std::vector<size_t> misses;
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (!matchers[i]->FillFromCache(masks[i])) misses.push_back(i);
  }
  size_t n = misses.size();
  WorkerPool& pool = WorkerPool::Get();
  int threads = num_threads > 0 ? num_threads : pool.size() + 1;
  int helpers = static_cast<int>(std::min<size_t>(n, static_cast<size_t>(threads))) - 1;
  auto fill = [&](size_t k) { matchers[misses[k]]->FillNextTokenBitmask(masks[misses[k]]); };
  if (helpers <= 0) {
    for (size_t k = 0; k < n; ++k) fill(k);
    return;
  }
  pool.ParallelFor(n, helpers, fill);
}

}  // namespace genai_rt::grammar
