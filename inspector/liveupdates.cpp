#include "liveupdates.h"

#include <utility>

#include "client/mcpclient.h"

namespace sidecar::inspector {

LiveUpdates::LiveUpdates(QObject *parent) : QObject(parent) {}

LiveUpdates::~LiveUpdates()
{
    setClient(nullptr); // the subscriptions end with the tab
}

int LiveUpdates::addChannel(Handler handler, int intervalMs)
{
    const int number = int(m_channels.size());
    Channel channel;
    channel.handler = std::move(handler);
    channel.intervalMs = intervalMs;
    channel.timer = std::make_unique<QTimer>();
    channel.timer->setSingleShot(true);
    connect(channel.timer.get(), &QTimer::timeout, this, [this, number] { run(number); });
    m_channels.push_back(std::move(channel));
    return number;
}

void LiveUpdates::setUris(int channel, const QStringList &uris)
{
    const QStringList before = allUris();
    m_channels[std::size_t(channel)].uris = uris;
    const QStringList after = allUris();
    for (const QString &uri : before) {
        if (!after.contains(uri))
            unsubscribeOne(uri);
    }
    for (const QString &uri : after) {
        if (!before.contains(uri))
            subscribeOne(uri);
    }
}

QStringList LiveUpdates::uris(int channel) const
{
    return m_channels[std::size_t(channel)].uris;
}

void LiveUpdates::setClient(client::McpClient *mcp)
{
    if (m_mcp == mcp && mcp) {
        // The same client again (the window says it is ready anew): make sure of every subscription.
        for (const QString &uri : allUris())
            subscribeOne(uri);
        return;
    }
    if (m_mcp) {
        disconnect(m_updatedConnection);
        for (const QString &uri : allUris())
            unsubscribeOne(uri);
    }
    m_mcp = mcp;
    if (!m_mcp)
        return;
    m_updatedConnection = connect(m_mcp.data(), &client::McpClient::resourceUpdated, this,
                                  &LiveUpdates::onResourceUpdated);
    for (const QString &uri : allUris())
        subscribeOne(uri);
}

void LiveUpdates::setPaused(bool paused)
{
    if (m_paused == paused)
        return;
    m_paused = paused;
    if (m_paused)
        return;
    for (std::size_t i = 0; i < m_channels.size(); ++i) {
        if (std::exchange(m_channels[i].pending, false))
            request(int(i));
    }
}

void LiveUpdates::request(int number)
{
    Channel &channel = m_channels[std::size_t(number)];
    if (m_paused) {
        channel.pending = true;
        return;
    }
    if (channel.timer->isActive())
        return; // already due: this update rides along
    qint64 delay = 0;
    if (channel.lastRun.isValid())
        delay = std::max<qint64>(0, channel.intervalMs - channel.lastRun.elapsed());
    channel.timer->start(int(delay));
}

void LiveUpdates::onResourceUpdated(const QString &uri)
{
    for (std::size_t i = 0; i < m_channels.size(); ++i) {
        if (m_channels[i].uris.contains(uri))
            request(int(i));
    }
}

void LiveUpdates::run(int number)
{
    Channel &channel = m_channels[std::size_t(number)];
    if (m_paused) {
        channel.pending = true;
        return;
    }
    channel.lastRun.start();
    if (channel.handler)
        channel.handler();
}

QStringList LiveUpdates::allUris() const
{
    QStringList out;
    for (const Channel &channel : m_channels) {
        for (const QString &uri : channel.uris) {
            if (!out.contains(uri))
                out.append(uri);
        }
    }
    return out;
}

void LiveUpdates::subscribeOne(const QString &uri)
{
    if (!m_mcp)
        return;
    QPointer<LiveUpdates> self(this);
    m_mcp->subscribe(uri, [self, uri](Result<void> result) {
        if (!self || result)
            return;
        // A connection that is down fails its requests; the client subscribes again once it is back.
        if (result.error().code == ErrorCode::Unavailable && (!self->m_mcp || !self->m_mcp->isReady()))
            return;
        emit self->subscriptionFailed(tr("Cannot watch %1: %2").arg(uri, result.error().message));
    });
}

void LiveUpdates::unsubscribeOne(const QString &uri)
{
    if (m_mcp)
        m_mcp->unsubscribe(uri);
}

} // namespace sidecar::inspector
