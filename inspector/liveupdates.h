#pragma once

// LiveUpdates: how a tab stays live. It keeps the tab's resource subscriptions on the connected
// McpClient (resources/subscribe of state:// URIs: a collection, the selected item) and turns the
// server's notifications/resources/updated into calls of the tab's reload handlers, coalesced:
// each channel's handler runs at most once per interval (a burst of 200 checkpoints is a few
// reloads, not 200), and never while paused; a channel notified while paused runs once when the
// pause ends (the catch-up).
//
// A channel is a set of URIs and a handler ("the run list": state://workflows; "the selected run":
// state://workflows/<id>). setUris() subscribes what is new and unsubscribes what is no longer
// wanted by any channel. The McpClient remembers subscriptions across its own reconnections; a new
// client (setClient) gets them all again, and the old one, if it still exists, loses them.
//
// The McpClient subscription list is per client, not per tab: two tabs must not subscribe to the
// same URI, or one's unsubscribe ends the other's notifications (the inspector's tabs watch
// disjoint collections, so they do not).
//
// Thread: GUI thread only. Ownership: a QObject child of its view; the McpClient is the window's
// (held by QPointer: it may go first).

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QStringList>
#include <QTimer>

#include <functional>
#include <memory>
#include <vector>

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class LiveUpdates : public QObject
{
    Q_OBJECT
public:
    using Handler = std::function<void()>;
    static constexpr int kDefaultIntervalMs = 300; // "at most a few times per second"

    explicit LiveUpdates(QObject *parent = nullptr);
    ~LiveUpdates() override;

    // A new channel with no URIs yet; returns its number.
    int addChannel(Handler handler, int intervalMs = kDefaultIntervalMs);
    void setUris(int channel, const QStringList &uris);
    QStringList uris(int channel) const;

    // The client to subscribe on (nullptr: none). Subscribes every channel's URIs on it.
    void setClient(client::McpClient *mcp);
    client::McpClient *client() const { return m_mcp; }

    void setPaused(bool paused);
    bool isPaused() const { return m_paused; }
    // Runs the channel's handler as a notification would: soon, coalesced, after a pause.
    void request(int channel);

signals:
    // A subscription the server refused or that failed (the message says which URI).
    void subscriptionFailed(const QString &message);

private:
    struct Channel
    {
        Handler handler;
        int intervalMs = kDefaultIntervalMs;
        QStringList uris;
        std::unique_ptr<QTimer> timer;
        QElapsedTimer lastRun;
        bool pending = false; // notified while paused
    };

    void onResourceUpdated(const QString &uri);
    void run(int channel);
    QStringList allUris() const;
    void subscribeOne(const QString &uri);
    void unsubscribeOne(const QString &uri);

    std::vector<Channel> m_channels;
    QPointer<client::McpClient> m_mcp;
    QMetaObject::Connection m_updatedConnection;
    bool m_paused = false;
};

} // namespace sidecar::inspector
