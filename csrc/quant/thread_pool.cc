// The shared worker pool (see genai_rt/quant/thread_pool.h).
#include "genai_rt/quant/thread_pool.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GENAI_RT_PAUSE() _mm_pause()
#else
#define GENAI_RT_PAUSE() std::this_thread::yield()
#endif

namespace genai_rt::quant {
namespace {

// NOTE: how long an idle worker spins before sleeping. Between two matmuls of one decode step
// the model runs norms, rotary and attention in Python/torch (30-150 us measured on SmolLM2);
// spinning across that gap keeps wake-ups off the futex.
constexpr auto kSpin = std::chrono::microseconds(200);

class Pool {
 public:
  void Run(int num_tasks, int num_threads, const std::function<void(int)>& job) {
    std::lock_guard<std::mutex> serial(run_mu_);
    EnsureWorkers(num_threads - 1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      num_tasks_ = num_tasks;
      max_worker_ = num_threads - 1;
      next_task_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    Drain(job, num_tasks);
    // Late workers must not start on a job that is about to go out of scope; the ones that
    // already joined are waited for.
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = nullptr;
    }
    for (int spins = 0; in_flight_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4096) {
        GENAI_RT_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  // Tasks are claimed one at a time, so a worker the OS has not scheduled yet (a shared,
  // oversubscribed machine) delays nothing: the caller takes the tasks it would have run.
  void Drain(const std::function<void(int)>& job, int num_tasks) {
    for (;;) {
      const int task = next_task_.fetch_add(1, std::memory_order_relaxed);
      if (task >= num_tasks) return;
      job(task);
    }
  }

  void EnsureWorkers(int count) {
    // A forked child inherits the pool's bookkeeping but not its threads: start afresh there
    // (the old std::thread objects are leaked on purpose; joining them would hang).
    if (owner_pid_ != getpid()) {
      new std::vector<std::thread>(std::move(workers_));
      workers_.clear();
      owner_pid_ = getpid();
    }
    while (static_cast<int>(workers_.size()) < count) {
      const int index = static_cast<int>(workers_.size()) + 1;
      // The worker starts from the generation before this call's job: reading it in the new
      // thread could see the job's generation already and wait for the next one forever.
      const uint64_t seen = generation_.load(std::memory_order_acquire);
      workers_.emplace_back([this, index, seen] { Work(index, seen); });
    }
  }

  void Work(int index, uint64_t seen) {
    for (;;) {
      const auto start = std::chrono::steady_clock::now();
      int spins = 0;
      while (generation_.load(std::memory_order_acquire) == seen) {
        GENAI_RT_PAUSE();
        if (++spins % 256 == 0 && std::chrono::steady_clock::now() - start > kSpin) {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
          break;
        }
      }
      const std::function<void(int)>* job = nullptr;
      int num_tasks = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen = generation_.load(std::memory_order_relaxed);
        if (job_ != nullptr && index <= max_worker_) {
          job = job_;
          num_tasks = num_tasks_;
          in_flight_.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (job != nullptr) {
        Drain(*job, num_tasks);
        in_flight_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  pid_t owner_pid_ = getpid();
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> next_task_{0};
  std::atomic<int> in_flight_{0};
  const std::function<void(int)>* job_ = nullptr;
  int num_tasks_ = 0;
  int max_worker_ = 0;
};

}  // namespace

void ParallelFor(int num_tasks, int num_threads, const std::function<void(int)>& job) {
  if (num_tasks <= 1 || num_threads <= 1) {
    for (int task = 0; task < num_tasks; ++task) job(task);
    return;
  }
  // Never destroyed: worker threads outlive static destruction at interpreter exit.
  static Pool* pool = new Pool();
  pool->Run(num_tasks, num_threads, job);
}

}  // namespace genai_rt::quant
