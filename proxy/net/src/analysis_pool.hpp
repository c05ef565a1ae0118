#pragma once
// A few threads that parse and decide long statements (session/analysis.hpp),
// so no client's statement holds up the I/O thread that serves other
// sessions. Each job has a deadline: past it the session refuses the
// statement and moves on; the job runs to its end (its cost is bounded by
// the text check and the statement size) and its result is dropped.

#include "asio.hpp"

#include <pgsieve/session/analysis.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <pthread.h>

namespace pgsieve::net {

class analysis_pool {
public:
    // `stack_bytes`: each thread's stack, enough for the longest statement the
    // configuration admits (the parser's deepest possible nesting).
    analysis_pool(unsigned threads, std::size_t stack_bytes);
    ~analysis_pool();
    analysis_pool(const analysis_pool&) = delete;
    analysis_pool& operator=(const analysis_pool&) = delete;

    // Runs `job` on a pool thread. nullopt: it did not finish within `limit`,
    // or the connection cancelled `waiting` (the timer it is given to hold
    // while the job runs) because it is closing.
    awaitable<std::optional<session::analysis_result>> run(session::analysis_job job, std::chrono::milliseconds limit,
                                                           std::shared_ptr<asio::steady_timer>& waiting);

    std::size_t queued() const;

private:
    struct task {
        session::analysis_job job;
        std::function<void(session::analysis_result)> done;
        std::shared_ptr<std::atomic<bool>> abandoned;
    };
    static void* thread_main(void* self);
    void stop();
    void work();

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<task> queue_;
    bool stopping_ = false;
    std::size_t stack_bytes_;
    std::vector<pthread_t> threads_;
};

}  // namespace pgsieve::net
