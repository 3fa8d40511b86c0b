#pragma once

// hiredis's asynchronous API on the Qt event loop: a replacement for hiredis/adapters/qt.h.
//
// The stock adapter of Debian's hiredis 0.14 is a Q_OBJECT in a system header (AUTOMOC never
// sees it) and, when hiredis frees the context after a disconnect, its destructor still writes
// into the freed context. This one has no Q_OBJECT (lambdas on QSocketNotifier::activated) and
// its cleanup hook, which hiredis calls from every path that frees the context, forgets the
// context and drops the notifiers, so nothing here touches a freed redisAsyncContext.
//
// Role: read/write readiness of the context's socket -> redisAsyncHandleRead/Write; afterEvent
// (optional) runs after each of those calls has returned, i.e. outside hiredis, where it is
// safe to free the context or to run code that may destroy the adapter's owner. onCleanup
// (optional) runs inside hiredis, while the context is being freed (its fields still readable):
// it must not call into hiredis nor destroy the adapter.
//
// Thread: the thread that created it, whose event loop drives the notifiers.
// Ownership: owned by whoever attached it; it does not own the context. Destroying an adapter
// whose context is still alive detaches it (the hooks are removed) without freeing the context.

#include <QSocketNotifier>

#include <functional>
#include <memory>

#include <hiredis/async.h>

namespace sidecar::store::redis {

class RedisQtAdapter
{
public:
    // Attaches to `ctx` (which must have no event library attached yet: ev.data null).
    explicit RedisQtAdapter(redisAsyncContext *ctx) : m_ctx(ctx)
    {
        ctx->ev.data = this;
        ctx->ev.addRead = &RedisQtAdapter::addReadHook;
        ctx->ev.delRead = &RedisQtAdapter::delReadHook;
        ctx->ev.addWrite = &RedisQtAdapter::addWriteHook;
        ctx->ev.delWrite = &RedisQtAdapter::delWriteHook;
        ctx->ev.cleanup = &RedisQtAdapter::cleanupHook;
    }

    ~RedisQtAdapter()
    {
        if (m_ctx) {
            m_ctx->ev.data = nullptr;
            m_ctx->ev.addRead = nullptr;
            m_ctx->ev.delRead = nullptr;
            m_ctx->ev.addWrite = nullptr;
            m_ctx->ev.delWrite = nullptr;
            m_ctx->ev.cleanup = nullptr;
        }
    }

    RedisQtAdapter(const RedisQtAdapter &) = delete;
    RedisQtAdapter &operator=(const RedisQtAdapter &) = delete;

    // The context, or nullptr once hiredis has freed it.
    redisAsyncContext *context() const { return m_ctx; }

    void setAfterEvent(std::function<void()> afterEvent) { m_afterEvent = std::move(afterEvent); }
    void setOnCleanup(std::function<void(redisAsyncContext *)> onCleanup) { m_onCleanup = std::move(onCleanup); }

private:
    static RedisQtAdapter *self(void *privdata) { return static_cast<RedisQtAdapter *>(privdata); }
    static void addReadHook(void *privdata) { self(privdata)->watch(self(privdata)->m_read, QSocketNotifier::Read); }
    static void delReadHook(void *privdata) { unwatch(self(privdata)->m_read); }
    static void addWriteHook(void *privdata) { self(privdata)->watch(self(privdata)->m_write, QSocketNotifier::Write); }
    static void delWriteHook(void *privdata) { unwatch(self(privdata)->m_write); }
    static void cleanupHook(void *privdata) { self(privdata)->cleanup(); }

    // The hooks are called often (addWrite for every command): a notifier is made once per
    // direction and then only enabled and disabled.
    void watch(std::unique_ptr<QSocketNotifier> &notifier, QSocketNotifier::Type type)
    {
        if (!m_ctx)
            return;
        if (notifier) {
            notifier->setEnabled(true);
            return;
        }
        notifier = std::make_unique<QSocketNotifier>(qintptr(m_ctx->c.fd), type);
        const bool read = type == QSocketNotifier::Read;
        QObject::connect(notifier.get(), &QSocketNotifier::activated, notifier.get(), [this, read] {
            if (m_ctx) {
                if (read)
                    redisAsyncHandleRead(m_ctx);
                else
                    redisAsyncHandleWrite(m_ctx);
            }
            // Last, and on a copy: afterEvent may destroy this adapter (and so m_afterEvent).
            if (m_afterEvent) {
                const std::function<void()> after = m_afterEvent;
                after();
            }
        });
    }

    static void unwatch(const std::unique_ptr<QSocketNotifier> &notifier)
    {
        if (notifier)
            notifier->setEnabled(false);
    }

    // hiredis is freeing the context: stop watching its socket and forget it. Deleting a
    // notifier from inside its own activated() is safe (QSocketNotifier guards its emission);
    // the lambda being run stays alive until it returns.
    void cleanup()
    {
        m_read.reset();
        m_write.reset();
        redisAsyncContext *ctx = m_ctx;
        m_ctx = nullptr;
        if (m_onCleanup)
            m_onCleanup(ctx);
    }

    redisAsyncContext *m_ctx;
    std::unique_ptr<QSocketNotifier> m_read;
    std::unique_ptr<QSocketNotifier> m_write;
    std::function<void()> m_afterEvent;
    std::function<void(redisAsyncContext *)> m_onCleanup;
};

} // namespace sidecar::store::redis
