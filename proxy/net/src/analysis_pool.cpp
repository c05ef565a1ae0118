#include "analysis_pool.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/parser/parse.hpp>

#include <fmt/format.h>

#include <atomic>
#include <stdexcept>

namespace pgsieve::net {

analysis_pool::analysis_pool(unsigned threads, std::size_t stack_bytes) : stack_bytes_(stack_bytes) {
    for (unsigned i = 0; i < std::max(1u, threads); ++i) {
        // std::thread cannot choose its stack size; the parser needs it (parse.hpp).
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, stack_bytes_);
        pthread_t thread;
        const int error = pthread_create(&thread, &attributes, &analysis_pool::thread_main, this);
        pthread_attr_destroy(&attributes);
        if (error != 0) {
            stop();
            throw std::runtime_error(fmt::format("cannot start the analysis threads: error {}", error));
        }
        threads_.push_back(thread);
    }
}

analysis_pool::~analysis_pool() { stop(); }

void analysis_pool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        queue_.clear();
    }
    wake_.notify_all();
    for (const auto thread : threads_) pthread_join(thread, nullptr);
    threads_.clear();
}

void* analysis_pool::thread_main(void* self) {
    static_cast<analysis_pool*>(self)->work();
    return nullptr;
}

void analysis_pool::work() {
    // Leave a quarter of the stack for the frames above the parser's.
    parser::set_thread_stack_size(stack_bytes_ / 4 * 3);
    for (;;) {
        task t;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            t = std::move(queue_.front());
            queue_.pop_front();
        }
        if (t.abandoned->load(std::memory_order_relaxed)) continue;  // its deadline passed while it waited
        try {
            t.done(session::analyse(t.job));
        } catch (const std::exception& e) {
            // Out of memory, most likely: the session's deadline refuses the statement.
            log::error("analysis_failed", {{"error", e.what()}, {"bytes", t.job.sql.size()}});
        }
    }
}

std::size_t analysis_pool::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

awaitable<std::optional<session::analysis_result>> analysis_pool::run(session::analysis_job job,
                                                                      std::chrono::milliseconds limit,
                                                                      std::shared_ptr<asio::steady_timer>& waiting) {
    auto executor = co_await asio::this_coro::executor;
    // Shared with the pool thread: the job may finish after this frame is gone.
    struct outcome {
        explicit outcome(asio::any_io_executor e, std::chrono::milliseconds limit) : timer(e, limit) {}
        asio::steady_timer timer;
        std::optional<session::analysis_result> result;
    };
    auto shared = std::make_shared<outcome>(executor, limit);
    auto abandoned = std::make_shared<std::atomic<bool>>(false);
    waiting = std::shared_ptr<asio::steady_timer>(shared, &shared->timer);
    auto done = [shared, executor](session::analysis_result r) {
        asio::post(executor, [shared, r = std::move(r)]() mutable {
            shared->result = std::move(r);
            shared->timer.cancel();
        });
    };
    {
        std::lock_guard lock(mutex_);
        queue_.push_back({std::move(job), std::move(done), abandoned});
    }
    wake_.notify_one();
    co_await shared->timer.async_wait(use_tuple);
    waiting.reset();
    if (!shared->result) abandoned->store(true, std::memory_order_relaxed);
    co_return std::move(shared->result);
}

}  // namespace pgsieve::net
