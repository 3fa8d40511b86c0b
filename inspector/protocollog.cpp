#include "protocollog.h"

#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLatin1StringView>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QSaveFile>
#include <QScrollBar>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include "jsonviewer.h"
#include "protocol/json.h"

namespace sidecar::inspector {

using client::McpClient;

namespace {

constexpr int kMaxRequestLabels = 10000; // ids of requests never answered are forgotten past this
constexpr int kFilterDelayMs = 150;

QString fromStd(const std::string &s)
{
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

// The error text of a tool error answer: TOOLS.md's {"error":{"code","message"}} as "code: message",
// else the content text as it is.
QString toolErrorText(const json::Value &result)
{
    const json::Value *content = result.find("content");
    if (!content || !content->isArray())
        return {};
    for (const json::Value &item : content->items()) {
        const json::Value *text = item.find("text");
        if (!text || !text->isString())
            continue;
        if (auto doc = json::parse(QByteArray::fromStdString(text->text())); doc && doc->root().isObject()) {
            const json::Value *error = doc->root().find("error");
            const json::Value *code = error && error->isObject() ? error->find("code") : nullptr;
            const json::Value *message = error && error->isObject() ? error->find("message") : nullptr;
            if (code && code->isString() && message && message->isString())
                return code->toQString() + QStringLiteral(": ") + message->toQString();
        }
        return text->toQString();
    }
    return {};
}

QString kindName(MessageSummary::Kind kind)
{
    switch (kind) {
    case MessageSummary::Kind::Request: return ProtocolLogModel::tr("request");
    case MessageSummary::Kind::Notification: return ProtocolLogModel::tr("notification");
    case MessageSummary::Kind::Response: return ProtocolLogModel::tr("response");
    case MessageSummary::Kind::Error: return ProtocolLogModel::tr("error");
    case MessageSummary::Kind::Invalid: break;
    }
    return ProtocolLogModel::tr("not JSON-RPC");
}

QString formatRoundTrip(qint64 us)
{
    if (us < 0)
        return {};
    if (us < 10000)
        return QStringLiteral("%1 ms").arg(double(us) / 1000.0, 0, 'f', 2);
    return QStringLiteral("%1 ms").arg(double(us) / 1000.0, 0, 'f', 1);
}

QString isoTime(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(Qt::ISODateWithMs);
}

} // namespace

MessageSummary summarizeMessage(const QByteArray &message)
{
    MessageSummary summary;
    const auto doc = json::parse(message);
    if (!doc || !doc->root().isObject())
        return summary;
    const json::Value &root = doc->root();
    const json::Value *id = root.find("id");
    if (id)
        summary.id = QString::fromUtf8(id->compact());
    const json::Value *params = root.find("params");
    if (const json::Value *method = root.find("method"); method && method->isString()) {
        summary.kind = id ? MessageSummary::Kind::Request : MessageSummary::Kind::Notification;
        summary.method = method->toQString();
        if (params && params->isObject()) {
            const json::Value *target = nullptr;
            if (summary.method == QLatin1StringView("tools/call"))
                target = params->find("name");
            else if (summary.method.startsWith(QLatin1StringView("resources/"))
                     || summary.method == QLatin1StringView("notifications/resources/updated"))
                target = params->find("uri");
            if (target && target->isString())
                summary.target = target->toQString();
        }
        return summary;
    }
    if (const json::Value *error = root.find("error")) {
        summary.kind = MessageSummary::Kind::Error;
        const json::Value *text = error->isObject() ? error->find("message") : nullptr;
        const json::Value *code = error->isObject() ? error->find("code") : nullptr;
        summary.error = text && text->isString() ? text->toQString() : QString::fromUtf8(error->compact());
        if (code && code->isNumber())
            summary.error += QStringLiteral(" (%1)").arg(fromStd(code->text()));
        return summary;
    }
    if (const json::Value *result = root.find("result")) {
        summary.kind = MessageSummary::Kind::Response;
        const json::Value *isError = result->isObject() ? result->find("isError") : nullptr;
        if (isError && isError->isBool() && isError->toBool()) {
            summary.kind = MessageSummary::Kind::Error;
            summary.error = toolErrorText(*result);
        }
    }
    return summary;
}

// ---------------------------------------------------------------- ProtocolLogModel

ProtocolLogModel::ProtocolLogModel(QObject *parent) : QAbstractTableModel(parent) {}

int ProtocolLogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_entries.size());
}

int ProtocolLogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ProtocolLogModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const LogEntry &e = entry(index.row());
    const bool sent = e.direction == McpClient::Direction::Sent;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case TimeColumn:
            return QDateTime::fromMSecsSinceEpoch(e.timeMs).toString(QStringLiteral("HH:mm:ss.zzz"));
        case DirectionColumn: return sent ? tr("→ sent") : tr("← received");
        case KindColumn: return kindName(e.summary.kind);
        case MethodColumn: return e.label;
        case IdColumn: return e.summary.id;
        case RoundTripColumn: return formatRoundTrip(e.roundTripUs);
        case SizeColumn:
            return QLocale().formattedDataSize(e.message.size(), 1, QLocale::DataSizeTraditionalFormat);
        default: return {};
        }
    case Qt::ToolTipRole:
        switch (index.column()) {
        case TimeColumn: return QDateTime::fromMSecsSinceEpoch(e.timeMs).toString(Qt::ISODateWithMs);
        case DirectionColumn: return sent ? tr("Sent to the server") : tr("Received from the server");
        case MethodColumn: return e.summary.error.isEmpty() ? e.label : e.label + u'\n' + e.summary.error;
        case SizeColumn: return tr("%n byte(s)", nullptr, int(e.message.size()));
        default: return {};
        }
    case Qt::TextAlignmentRole:
        if (index.column() == RoundTripColumn || index.column() == SizeColumn || index.column() == IdColumn)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::ForegroundRole:
        if (e.summary.kind == MessageSummary::Kind::Error || e.summary.kind == MessageSummary::Kind::Invalid)
            return QColor(0xc6, 0x28, 0x28);
        if (e.summary.kind == MessageSummary::Kind::Notification)
            return QColor(0x1e, 0x6f, 0xb8);
        return {};
    default: return {};
    }
}

QVariant ProtocolLogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case TimeColumn: return tr("Time");
    case DirectionColumn: return tr("Direction");
    case KindColumn: return tr("Kind");
    case MethodColumn: return tr("Method");
    case IdColumn: return tr("Id");
    case RoundTripColumn: return tr("Round trip");
    case SizeColumn: return tr("Size");
    default: return {};
    }
}

void ProtocolLogModel::append(McpClient::Direction direction, const QByteArray &message, qint64 roundTripUs)
{
    LogEntry e;
    e.timeMs = QDateTime::currentMSecsSinceEpoch();
    e.direction = direction;
    e.roundTripUs = roundTripUs;
    e.message = message;
    e.summary = summarizeMessage(message);
    const bool sent = direction == McpClient::Direction::Sent;
    switch (e.summary.kind) {
    case MessageSummary::Kind::Request:
        e.label = e.summary.target.isEmpty() ? e.summary.method : e.summary.method + u' ' + e.summary.target;
        if (m_requestLabels.size() >= kMaxRequestLabels)
            m_requestLabels.clear();
        m_requestLabels.insert((sent ? u's' : u'r') + e.summary.id, e.label);
        break;
    case MessageSummary::Kind::Notification:
        e.label = e.summary.target.isEmpty() ? e.summary.method : e.summary.method + u' ' + e.summary.target;
        break;
    case MessageSummary::Kind::Response:
    case MessageSummary::Kind::Error:
        // An answer travels the other way from its request.
        e.label = m_requestLabels.take((sent ? u'r' : u's') + e.summary.id);
        break;
    case MessageSummary::Kind::Invalid: break;
    }
    const int row = rowCount();
    beginInsertRows({}, row, row);
    m_bytes += e.message.size();
    m_entries.push_back(std::move(e));
    endInsertRows();
    trim();
}

void ProtocolLogModel::trim()
{
    std::size_t drop = 0;
    qint64 bytes = m_bytes;
    while (drop + 1 < m_entries.size()
           && (m_entries.size() - drop > std::size_t(m_capacity) || bytes > m_maxBytes)) {
        bytes -= m_entries[drop].message.size();
        ++drop;
    }
    if (drop == 0)
        return;
    beginRemoveRows({}, 0, int(drop) - 1);
    m_entries.erase(m_entries.begin(), m_entries.begin() + qsizetype(drop));
    m_bytes = bytes;
    endRemoveRows();
}

void ProtocolLogModel::clear()
{
    beginResetModel();
    m_entries.clear();
    m_bytes = 0;
    endResetModel();
}

void ProtocolLogModel::setCapacity(int rows)
{
    m_capacity = qMax(1, rows);
    trim();
}

void ProtocolLogModel::setMaxBytes(qint64 bytes)
{
    m_maxBytes = qMax<qint64>(1, bytes);
    trim();
}

// ---------------------------------------------------------------- ProtocolLogFilter

void ProtocolLogFilter::setText(const QString &text)
{
    if (text == m_text)
        return;
    m_text = text;
    m_textUtf8 = text.toUtf8();
    invalidateFilter();
}

void ProtocolLogFilter::setShow(Show show)
{
    if (show == m_show)
        return;
    m_show = show;
    invalidateFilter();
}

bool ProtocolLogFilter::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    Q_UNUSED(sourceParent);
    const auto *log = static_cast<const ProtocolLogModel *>(sourceModel());
    const LogEntry &e = log->entry(sourceRow);
    switch (m_show) {
    case Show::All: break;
    case Show::Sent:
        if (e.direction != McpClient::Direction::Sent)
            return false;
        break;
    case Show::Received:
        if (e.direction != McpClient::Direction::Received)
            return false;
        break;
    case Show::Notifications:
        if (e.summary.kind != MessageSummary::Kind::Notification)
            return false;
        break;
    case Show::Errors:
        if (e.summary.kind != MessageSummary::Kind::Error && e.summary.kind != MessageSummary::Kind::Invalid)
            return false;
        break;
    }
    if (m_text.isEmpty())
        return true;
    return e.label.contains(m_text, Qt::CaseInsensitive) || e.summary.id == m_text
           || QLatin1StringView(e.message).contains(QLatin1StringView(m_textUtf8), Qt::CaseInsensitive);
}

// ---------------------------------------------------------------- ProtocolLog

ProtocolLog::ProtocolLog(QWidget *parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("protocolLog"));
    m_model = new ProtocolLogModel(this);
    m_filter = new ProtocolLogFilter(this);
    m_filter->setSourceModel(m_model);

    m_filterEdit = new QLineEdit(this);
    m_filterEdit->setObjectName(QStringLiteral("protocolLogFilter"));
    m_filterEdit->setPlaceholderText(tr("Filter by method, id or any text in the message"));
    m_filterEdit->setClearButtonEnabled(true);
    m_filterTimer = new QTimer(this);
    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(kFilterDelayMs);
    connect(m_filterEdit, &QLineEdit::textChanged, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_filterTimer, &QTimer::timeout, this, [this] {
        m_filter->setText(m_filterEdit->text().trimmed());
        updateCount();
    });

    m_showCombo = new QComboBox(this);
    m_showCombo->setObjectName(QStringLiteral("protocolLogShow"));
    m_showCombo->addItem(tr("All messages"), int(ProtocolLogFilter::Show::All));
    m_showCombo->addItem(tr("Sent →"), int(ProtocolLogFilter::Show::Sent));
    m_showCombo->addItem(tr("Received ←"), int(ProtocolLogFilter::Show::Received));
    m_showCombo->addItem(tr("Notifications"), int(ProtocolLogFilter::Show::Notifications));
    m_showCombo->addItem(tr("Errors"), int(ProtocolLogFilter::Show::Errors));
    connect(m_showCombo, &QComboBox::currentIndexChanged, this, [this] {
        m_filter->setShow(ProtocolLogFilter::Show(m_showCombo->currentData().toInt()));
        updateCount();
    });

    m_countLabel = new QLabel(this);
    m_countLabel->setObjectName(QStringLiteral("protocolLogCount"));

    auto *clearButton = new QToolButton(this);
    clearButton->setObjectName(QStringLiteral("protocolLogClear"));
    clearButton->setText(tr("Clear"));
    clearButton->setToolTip(tr("Forget every message logged so far"));
    connect(clearButton, &QToolButton::clicked, this, &ProtocolLog::clear);
    auto *exportButton = new QToolButton(this);
    exportButton->setObjectName(QStringLiteral("protocolLogExport"));
    exportButton->setText(tr("Export…"));
    exportButton->setToolTip(tr("Save the messages shown as JSON lines (one object per message)"));
    connect(exportButton, &QToolButton::clicked, this, &ProtocolLog::exportInteractively);

    auto *bar = new QHBoxLayout;
    bar->setContentsMargins(0, 0, 0, 0);
    bar->addWidget(m_filterEdit, 1);
    bar->addWidget(m_showCombo);
    bar->addWidget(m_countLabel);
    bar->addWidget(clearButton);
    bar->addWidget(exportButton);

    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("protocolLogTable"));
    m_table->setModel(m_filter);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->setShowGrid(false);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    QHeaderView *header = m_table->horizontalHeader();
    header->setHighlightSections(false);
    header->setStretchLastSection(false);
    const int digit = fontMetrics().horizontalAdvance(QLatin1Char('0'));
    header->resizeSection(ProtocolLogModel::TimeColumn, digit * 14);
    header->resizeSection(ProtocolLogModel::DirectionColumn, digit * 12);
    header->resizeSection(ProtocolLogModel::KindColumn, digit * 13);
    header->resizeSection(ProtocolLogModel::IdColumn, digit * 6);
    header->resizeSection(ProtocolLogModel::RoundTripColumn, digit * 11);
    header->resizeSection(ProtocolLogModel::SizeColumn, digit * 10);
    header->setSectionResizeMode(ProtocolLogModel::MethodColumn, QHeaderView::Stretch);

    m_detailHeader = new QLabel(this);
    m_detailHeader->setObjectName(QStringLiteral("protocolLogDetailHeader"));
    m_detailHeader->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_detailHeader->setWordWrap(true);
    m_viewer = new JsonViewer(this);
    m_viewer->setObjectName(QStringLiteral("protocolLogDetail"));
    m_viewer->setMode(
        JsonViewer::Mode::Raw); // a message reads best as indented text; the tree is a click away
    m_viewer->clear(tr("Select a message to see it whole"));
    auto *detail = new QWidget(this);
    auto *detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 0, 0, 0);
    detailLayout->addWidget(m_detailHeader);
    detailLayout->addWidget(m_viewer, 1);

    auto *splitter = new QSplitter(Qt::Horizontal, this);
    splitter->setObjectName(QStringLiteral("protocolLogSplitter"));
    splitter->addWidget(m_table);
    splitter->addWidget(detail);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(splitter, 1);

    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &ProtocolLog::showSelected);
    // Follow the newest message while the table is scrolled to its end, as a terminal does.
    connect(m_filter, &QAbstractItemModel::rowsAboutToBeInserted, this, [this] {
        const QScrollBar *scrollBar = m_table->verticalScrollBar();
        m_follow = scrollBar->value() >= scrollBar->maximum() - 1;
    });
    connect(m_filter, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_follow)
            m_table->scrollToBottom();
        updateCount();
    });
    connect(m_filter, &QAbstractItemModel::rowsRemoved, this, &ProtocolLog::updateCount);
    connect(m_filter, &QAbstractItemModel::modelReset, this, [this] {
        showSelected();
        updateCount();
    });
    updateCount();
}

void ProtocolLog::record(McpClient::Direction direction, const QByteArray &message, qint64 roundTripUs)
{
    m_model->append(direction, message, roundTripUs);
}

void ProtocolLog::clear()
{
    m_model->clear();
}

void ProtocolLog::updateCount()
{
    const int shown = m_filter->rowCount();
    const int total = m_model->rowCount();
    m_countLabel->setText(shown == total ? tr("%n message(s)", nullptr, total)
                                         : tr("%1 of %n message(s)", nullptr, total).arg(shown));
}

QString ProtocolLog::detailText() const
{
    return m_viewer->hasValue() ? m_viewer->rawText() : QString();
}

void ProtocolLog::showSelected()
{
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    if (!current.isValid()) {
        m_detailHeader->clear();
        m_viewer->clear(tr("Select a message to see it whole"));
        return;
    }
    const LogEntry &e = m_model->entry(m_filter->mapToSource(current).row());
    QStringList parts;
    parts << (e.direction == McpClient::Direction::Sent ? tr("Sent") : tr("Received"))
          << QDateTime::fromMSecsSinceEpoch(e.timeMs).toString(QStringLiteral("HH:mm:ss.zzz"))
          << kindName(e.summary.kind);
    if (!e.label.isEmpty())
        parts << e.label;
    if (!e.summary.id.isEmpty())
        parts << tr("id %1").arg(e.summary.id);
    if (e.roundTripUs >= 0)
        parts << tr("round trip %1").arg(formatRoundTrip(e.roundTripUs));
    parts << QLocale().formattedDataSize(e.message.size(), 1, QLocale::DataSizeTraditionalFormat);
    QString header = parts.join(QStringLiteral(" · "));
    if (!e.summary.error.isEmpty())
        header += u'\n' + e.summary.error;
    m_detailHeader->setText(header);
    if (e.summary.kind == MessageSummary::Kind::Invalid && !json::parse(e.message))
        m_viewer->clear(QString::fromUtf8(e.message)); // not JSON: shown as it came
    else
        m_viewer->setJson(e.message);
}

bool ProtocolLog::exportJsonLines(const QString &path, QString *error) const
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        if (error)
            *error = file.errorString();
        return false;
    }
    const int rows = m_filter->rowCount();
    for (int row = 0; row < rows; ++row) {
        const LogEntry &e = m_model->entry(m_filter->mapToSource(m_filter->index(row, 0)).row());
        json::Writer w(e.message.size() + 128);
        w.beginObject()
            .field("time", isoTime(e.timeMs))
            .field("direction", e.direction == McpClient::Direction::Sent ? "sent" : "received");
        if (e.roundTripUs >= 0)
            w.field("round_trip_us", std::int64_t(e.roundTripUs));
        else
            w.fieldNull("round_trip_us");
        if (const auto doc = json::parse(e.message))
            w.fieldRaw("message", doc->root().compact()); // one line, exactly as sent otherwise
        else
            w.field("message", QString::fromUtf8(e.message)); // not JSON: kept as a string
        w.endObject();
        QByteArray line = w.take();
        line.append('\n');
        if (file.write(line) != line.size()) {
            if (error)
                *error = file.errorString();
            file.cancelWriting();
            return false;
        }
    }
    if (!file.commit()) {
        if (error)
            *error = file.errorString();
        return false;
    }
    return true;
}

void ProtocolLog::exportInteractively()
{
    const QString suggested =
        QStringLiteral("protocol-log-%1.jsonl")
            .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    const QString path = QFileDialog::getSaveFileName(this, tr("Export the protocol log"), suggested,
                                                      tr("JSON lines (*.jsonl);;All files (*)"));
    if (path.isEmpty())
        return;
    QString error;
    if (!exportJsonLines(path, &error))
        QMessageBox::warning(this, tr("Export the protocol log"), tr("Cannot write %1: %2").arg(path, error));
}

} // namespace sidecar::inspector
