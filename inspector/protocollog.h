#pragma once

// The protocol log: every JSON-RPC message between the inspector and the sidecar, as McpClient's
// traffic() signal reports it, for a developer who wants to see what went over the wire.
//
// - summarizeMessage() reads one message's kind, method, id and target (a tool's name, a resource's
//   URI) without keeping the parsed tree; the log and the window's latency display share it.
// - ProtocolLogModel keeps the newest messages (at most capacity() rows and about maxBytes() bytes
//   of message text; the oldest go first), one row each: time, direction, kind, method, id, round
//   trip, size. A response shows the method of the request it answers (matched by id).
// - ProtocolLogFilter narrows it by a text (method, id or anywhere in the message, case-insensitive
//   for ASCII) and by what to show (all, sent, received, notifications, errors).
// - ProtocolLog is the widget: filter box, "show" choice, table, the selected message in full in a
//   JsonViewer (pretty-printed text by default, or a tree; key order and number text as sent),
//   Clear and Export. Export writes JSON lines:
//   one object per message {"time","direction","round_trip_us","message"}, in the order shown.
//
// Thread: GUI thread only. Ownership: the widget owns its model and filter.

#include <QAbstractTableModel>
#include <QByteArray>
#include <QHash>
#include <QSortFilterProxyModel>
#include <QString>
#include <QWidget>

#include <deque>

#include "client/mcpclient.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;
class QTimer;

namespace sidecar::inspector {

struct MessageSummary
{
    enum class Kind { Request, Notification, Response, Error, Invalid };
    Kind kind = Kind::Invalid;
    QString method; // requests and notifications
    QString id;     // compact JSON text of the id (requests, responses), else empty
    QString target; // tools/call: the tool's name; resources/* and resource notifications: the URI
    QString error;  // Error: the JSON-RPC error's message, or the tool error's text
};

// Reads one JSON-RPC message. A tools/call answer with isError true is an Error.
MessageSummary summarizeMessage(const QByteArray &message);

struct LogEntry
{
    qint64 timeMs = 0; // milliseconds since the epoch, when the message passed
    client::McpClient::Direction direction = client::McpClient::Direction::Sent;
    qint64 roundTripUs = -1;
    QByteArray message;
    MessageSummary summary;
    QString label; // what the Method column shows ("tools/call state_get"; a response: its request's)
};

class JsonViewer;

class ProtocolLogModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column {
        TimeColumn,
        DirectionColumn,
        KindColumn,
        MethodColumn,
        IdColumn,
        RoundTripColumn,
        SizeColumn,
        ColumnCount
    };
    static constexpr int kDefaultCapacity = 5000;
    static constexpr qint64 kDefaultMaxBytes = 64LL * 1024 * 1024;

    explicit ProtocolLogModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    void append(client::McpClient::Direction direction, const QByteArray &message, qint64 roundTripUs);
    void clear();
    const LogEntry &entry(int row) const { return m_entries.at(std::size_t(row)); }
    int capacity() const { return m_capacity; }
    void setCapacity(int rows);
    qint64 maxBytes() const { return m_maxBytes; }
    void setMaxBytes(qint64 bytes);
    qint64 bytes() const { return m_bytes; }

private:
    void trim();

    std::deque<LogEntry> m_entries;
    QHash<QString, QString> m_requestLabels; // id -> label of requests sent and not yet answered
    int m_capacity = kDefaultCapacity;
    qint64 m_maxBytes = kDefaultMaxBytes;
    qint64 m_bytes = 0;
};

class ProtocolLogFilter : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    enum class Show { All, Sent, Received, Notifications, Errors };

    using QSortFilterProxyModel::QSortFilterProxyModel;

    void setText(const QString &text);
    void setShow(Show show);
    Show show() const { return m_show; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QString m_text;
    QByteArray m_textUtf8;
    Show m_show = Show::All;
};

class ProtocolLog : public QWidget
{
    Q_OBJECT
public:
    explicit ProtocolLog(QWidget *parent = nullptr);

    ProtocolLogModel *model() const { return m_model; }
    ProtocolLogFilter *filter() const { return m_filter; }
    QTableView *table() const { return m_table; }
    // The selected message as the detail pane's text shows it (empty when none is selected).
    QString detailText() const;
    JsonViewer *detailViewer() const { return m_viewer; }

    // Writes the rows the filter shows, oldest first, as JSON lines; false with *error on failure.
    bool exportJsonLines(const QString &path, QString *error = nullptr) const;

public slots:
    void record(sidecar::client::McpClient::Direction direction, const QByteArray &message,
                qint64 roundTripUs);
    void clear();
    void exportInteractively();

private:
    void showSelected();
    void updateCount();

    ProtocolLogModel *m_model = nullptr;
    ProtocolLogFilter *m_filter = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QComboBox *m_showCombo = nullptr;
    QTableView *m_table = nullptr;
    JsonViewer *m_viewer = nullptr;
    QLabel *m_detailHeader = nullptr;
    QLabel *m_countLabel = nullptr;
    QTimer *m_filterTimer = nullptr;
    bool m_follow = true; // keep the newest row in view while the table is scrolled to the bottom
};

} // namespace sidecar::inspector
