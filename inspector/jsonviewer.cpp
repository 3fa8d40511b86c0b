#include "jsonviewer.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QEvent>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QPlainTextEdit>
#include <QStackedWidget>
#include <QTextCharFormat>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

#include <functional>

namespace sidecar::inspector {

namespace {

constexpr int kDisplayChars = 300;     // a value cell shows at most this much of a string
constexpr int kToolTipChars = 2000;    // and its tooltip this much
constexpr int kExpandAllNodes = 300;   // a value this small is shown fully expanded
constexpr int kExpandTopRows = 20;     // a bigger one has its top rows unfolded when they are this few
constexpr qsizetype kHighlightBytes = 4 * 1024 * 1024; // bigger raw texts are shown uncoloured

bool isDark(const QPalette &palette)
{
    return palette.color(QPalette::Base).lightness() < 128;
}

JsonToken tokenOf(const json::Value &value)
{
    switch (value.type()) {
    case json::Type::Null: return JsonToken::Null;
    case json::Type::Bool: return JsonToken::Boolean;
    case json::Type::Number: return JsonToken::Number;
    case json::Type::String: return JsonToken::String;
    case json::Type::Array:
    case json::Type::Object: return JsonToken::Summary;
    }
    return JsonToken::Summary;
}

QString elide(const QString &text, int chars)
{
    if (text.size() <= chars)
        return text;
    return text.left(chars) + QChar(0x2026);
}

bool isIdentifier(const QString &key)
{
    if (key.isEmpty())
        return false;
    for (qsizetype i = 0; i < key.size(); ++i) {
        const QChar c = key.at(i);
        const bool letter = (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || c == u'_' || c == u'$';
        const bool digit = c >= u'0' && c <= u'9';
        if (!letter && !(digit && i > 0))
            return false;
    }
    return true;
}

QString summary(const json::Value &value)
{
    if (value.isObject()) {
        const auto n = qsizetype(value.members().size());
        if (n == 0)
            return QStringLiteral("{}");
        return n == 1 ? JsonTreeModel::tr("{1 key}") : JsonTreeModel::tr("{%1 keys}").arg(n);
    }
    const auto n = qsizetype(value.items().size());
    if (n == 0)
        return QStringLiteral("[]");
    return n == 1 ? JsonTreeModel::tr("[1 item]") : JsonTreeModel::tr("[%1 items]").arg(n);
}

int countNodes(const json::Value &value, int cap)
{
    int count = 1;
    for (const json::Value &item : value.items()) {
        if (count >= cap)
            return count;
        count += countNodes(item, cap - count);
    }
    for (const json::Member &member : value.members()) {
        if (count >= cap)
            return count;
        count += countNodes(member.value, cap - count);
    }
    return count;
}

QString formatBytes(qsizetype bytes)
{
    return QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeTraditionalFormat);
}

} // namespace

// ---------------------------------------------------------------- free functions

QColor jsonTokenColor(JsonToken token, const QPalette &palette)
{
    const bool dark = isDark(palette);
    switch (token) {
    case JsonToken::Key: return dark ? QColor(0x9c, 0xdc, 0xfe) : QColor(0x04, 0x51, 0xa5);
    case JsonToken::String: return dark ? QColor(0xce, 0x91, 0x78) : QColor(0xa3, 0x15, 0x15);
    case JsonToken::Number: return dark ? QColor(0xb5, 0xce, 0xa8) : QColor(0x09, 0x86, 0x58);
    case JsonToken::Boolean: return dark ? QColor(0x56, 0x9c, 0xd6) : QColor(0x00, 0x00, 0xff);
    case JsonToken::Null: return dark ? QColor(0xc5, 0x86, 0xc0) : QColor(0xaf, 0x00, 0xdb);
    case JsonToken::Punctuation: return dark ? QColor(0xb0, 0xb0, 0xb0) : QColor(0x55, 0x55, 0x55);
    case JsonToken::Index: return dark ? QColor(0x8b, 0x94, 0x9e) : QColor(0x6a, 0x73, 0x7d);
    case JsonToken::Summary: return dark ? QColor(0x8b, 0x94, 0x9e) : QColor(0x6a, 0x73, 0x7d);
    }
    return palette.color(QPalette::Text);
}

QByteArray prettyJson(const QByteArray &validJson, int indent)
{
    if (!json::parse(validJson))
        return validJson;
    QByteArray out;
    out.reserve(validJson.size() * 2);
    int depth = 0;
    auto newline = [&out, &depth, indent] {
        out.append('\n');
        out.append(QByteArray(qsizetype(depth) * indent, ' '));
    };
    const qsizetype n = validJson.size();
    for (qsizetype i = 0; i < n; ++i) {
        const char c = validJson.at(i);
        switch (c) {
        case '"': {
            const qsizetype start = i++;
            while (i < n && validJson.at(i) != '"')
                i += validJson.at(i) == '\\' ? 2 : 1;
            out.append(validJson.constData() + start, i - start + 1);
            break;
        }
        case '{':
        case '[': {
            qsizetype j = i + 1;
            while (j < n && (validJson.at(j) == ' ' || validJson.at(j) == '\t' || validJson.at(j) == '\n'
                             || validJson.at(j) == '\r'))
                ++j;
            const char close = c == '{' ? '}' : ']';
            if (j < n && validJson.at(j) == close) {
                out.append(c).append(close);
                i = j;
            } else {
                out.append(c);
                ++depth;
                newline();
            }
            break;
        }
        case '}':
        case ']':
            --depth;
            newline();
            out.append(c);
            break;
        case ',':
            out.append(c);
            newline();
            break;
        case ':':
            out.append(": ");
            break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        default:
            out.append(c);
        }
    }
    return out;
}

std::pair<int, int> lineAndColumn(const QByteArray &utf8, qsizetype byteOffset)
{
    byteOffset = qBound<qsizetype>(0, byteOffset, utf8.size());
    int line = 1;
    qsizetype lineStart = 0;
    for (qsizetype i = 0; i < byteOffset; ++i) {
        if (utf8.at(i) == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    const int column = int(QString::fromUtf8(utf8.constData() + lineStart, byteOffset - lineStart).size()) + 1;
    return {line, column};
}

// ---------------------------------------------------------------- JsonHighlighter

JsonHighlighter::JsonHighlighter(QTextDocument *document) : QSyntaxHighlighter(document) {}

void JsonHighlighter::highlightBlock(const QString &text)
{
    const QPalette palette = QApplication::palette();
    auto format = [&palette](JsonToken token) {
        QTextCharFormat f;
        f.setForeground(jsonTokenColor(token, palette));
        return f;
    };
    const qsizetype n = text.size();
    qsizetype i = 0;
    while (i < n) {
        const QChar c = text.at(i);
        if (c == u'"') {
            const qsizetype start = i++;
            while (i < n) {
                if (text.at(i) == u'\\') {
                    i += 2;
                } else if (text.at(i) == u'"') {
                    ++i;
                    break;
                } else {
                    ++i;
                }
            }
            i = qMin(i, n);
            qsizetype j = i;
            while (j < n && text.at(j).isSpace())
                ++j;
            const bool key = j < n && text.at(j) == u':';
            setFormat(int(start), int(i - start), format(key ? JsonToken::Key : JsonToken::String));
        } else if (c == u'-' || c.isDigit()) {
            const qsizetype start = i++;
            while (i < n && (text.at(i).isDigit() || text.at(i) == u'.' || text.at(i) == u'e' || text.at(i) == u'E'
                             || text.at(i) == u'+' || text.at(i) == u'-'))
                ++i;
            setFormat(int(start), int(i - start), format(JsonToken::Number));
        } else if (QStringView(text).mid(i).startsWith(u"true") || QStringView(text).mid(i).startsWith(u"false")) {
            const int len = text.at(i) == u't' ? 4 : 5;
            setFormat(int(i), len, format(JsonToken::Boolean));
            i += len;
        } else if (QStringView(text).mid(i).startsWith(u"null")) {
            setFormat(int(i), 4, format(JsonToken::Null));
            i += 4;
        } else {
            if (c == u'{' || c == u'}' || c == u'[' || c == u']' || c == u',' || c == u':')
                setFormat(int(i), 1, format(JsonToken::Punctuation));
            ++i;
        }
    }
}

// ---------------------------------------------------------------- JsonTreeModel

JsonTreeModel::JsonTreeModel(QObject *parent)
    : QAbstractItemModel(parent), m_valueFont(QFontDatabase::systemFont(QFontDatabase::FixedFont))
{
    m_summaryFont = m_valueFont;
    m_summaryFont.setItalic(true);
}

JsonTreeModel::~JsonTreeModel() = default;

bool JsonTreeModel::setJson(const QByteArray &json)
{
    beginResetModel();
    m_root.reset();
    m_document.reset();
    m_error.clear();
    m_json = json;
    json::ParseError error;
    if (auto document = json::parse(json, &error)) {
        m_document = std::move(*document);
        m_root = std::make_unique<Node>();
        m_root->value = &m_document->root();
    } else {
        const auto [line, column] = lineAndColumn(json, qsizetype(error.offset));
        m_error = tr("Not valid JSON at line %1, column %2: %3")
                      .arg(line)
                      .arg(column)
                      .arg(QString::fromStdString(error.message));
    }
    endResetModel();
    return m_document.has_value();
}

void JsonTreeModel::clear()
{
    beginResetModel();
    m_root.reset();
    m_document.reset();
    m_error.clear();
    m_json.clear();
    endResetModel();
}

QString JsonTreeModel::describe() const
{
    if (!m_document)
        return {};
    const json::Value &root = m_document->root();
    QString text = QString::fromLatin1(json::typeName(root.type()));
    if (root.isObject() || root.isArray())
        text += QStringLiteral(" ") + summary(root);
    return text;
}

int JsonTreeModel::nodeCount(int cap) const
{
    return m_document ? countNodes(m_document->root(), cap) : 0;
}

void JsonTreeModel::setPalette(const QPalette &palette)
{
    m_palette = palette;
    if (m_root && !m_root->children.empty())
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1), {Qt::ForegroundRole});
}

JsonTreeModel::Node *JsonTreeModel::nodeOf(const QModelIndex &index) const
{
    return index.isValid() ? static_cast<Node *>(index.internalPointer()) : m_root.get();
}

const std::vector<std::unique_ptr<JsonTreeModel::Node>> &JsonTreeModel::childrenOf(const Node *node) const
{
    if (node->built)
        return node->children;
    node->built = true;
    const json::Value &value = *node->value;
    auto add = [node](const json::Value *child, bool member, QString key) {
        auto n = std::make_unique<Node>();
        n->value = child;
        n->parent = const_cast<Node *>(node);
        n->row = int(node->children.size());
        n->member = member;
        n->key = std::move(key);
        node->children.push_back(std::move(n));
    };
    if (value.isObject()) {
        node->children.reserve(value.members().size());
        for (const json::Member &m : value.members())
            add(&m.value, true, QString::fromUtf8(m.key.data(), qsizetype(m.key.size())));
    } else if (value.isArray()) {
        node->children.reserve(value.items().size());
        for (const json::Value &item : value.items())
            add(&item, false, QString());
    } else if (node == m_root.get()) {
        add(&value, false, QString()); // a scalar document: one row
    }
    return node->children;
}

QString JsonTreeModel::pathOf(const Node *node) const
{
    QStringList parts;
    for (const Node *n = node; n && n != m_root.get(); n = n->parent) {
        if (n->member) {
            if (isIdentifier(n->key)) {
                parts.prepend(u'.' + n->key);
            } else {
                QString escaped = n->key;
                escaped.replace(u'\\', QStringLiteral("\\\\")).replace(u'\'', QStringLiteral("\\'"));
                parts.prepend(QStringLiteral("['") + escaped + QStringLiteral("']"));
            }
        } else if (n->value != m_root->value) {
            parts.prepend(u'[' + QString::number(n->row) + u']');
        }
    }
    return u'$' + parts.join(QString());
}

QModelIndex JsonTreeModel::index(int row, int column, const QModelIndex &parent) const
{
    if (column < 0 || column >= ColumnCount || row < 0 || (parent.isValid() && parent.column() != 0))
        return {};
    const Node *p = nodeOf(parent);
    if (!p)
        return {};
    const auto &children = childrenOf(p);
    if (row >= int(children.size()))
        return {};
    return createIndex(row, column, children[std::size_t(row)].get());
}

QModelIndex JsonTreeModel::parent(const QModelIndex &child) const
{
    if (!child.isValid())
        return {};
    const Node *n = nodeOf(child);
    const Node *p = n ? n->parent : nullptr;
    if (!p || p == m_root.get())
        return {};
    return createIndex(p->row, 0, const_cast<Node *>(p));
}

int JsonTreeModel::rowCount(const QModelIndex &parent) const
{
    if (parent.column() > 0)
        return 0;
    const Node *n = nodeOf(parent);
    return n ? int(childrenOf(n).size()) : 0;
}

int JsonTreeModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

bool JsonTreeModel::hasChildren(const QModelIndex &parent) const
{
    if (parent.column() > 0)
        return false;
    const Node *n = nodeOf(parent);
    if (!n)
        return false;
    if (n == m_root.get())
        return true;
    return (n->value->isObject() && !n->value->members().empty())
           || (n->value->isArray() && !n->value->items().empty());
}

QVariant JsonTreeModel::data(const QModelIndex &index, int role) const
{
    const Node *n = index.isValid() ? nodeOf(index) : nullptr;
    if (!n)
        return {};
    const json::Value &v = *n->value;
    const JsonToken token = tokenOf(v);
    switch (role) {
    case PathRole: return pathOf(n);
    case JsonRole: return v.compact();
    case TokenRole: return int(token);
    case TypeRole: return QString::fromLatin1(json::typeName(v.type()));
    default: break;
    }

    switch (index.column()) {
    case KeyColumn:
        if (role == Qt::DisplayRole) {
            if (n->member)
                return n->key;
            if (n->parent == m_root.get() && !v.isObject() && !v.isArray() && n->value == m_root->value)
                return tr("(value)");
            return QString(u'[' + QString::number(n->row) + u']');
        }
        if (role == Qt::ForegroundRole)
            return jsonTokenColor(n->member ? JsonToken::Key : JsonToken::Index, m_palette);
        if (role == Qt::ToolTipRole)
            return pathOf(n);
        break;
    case ValueColumn:
        if (role == Qt::DisplayRole) {
            switch (v.type()) {
            case json::Type::Object:
            case json::Type::Array: return summary(v);
            case json::Type::String: return elide(QString::fromUtf8(v.compact()), kDisplayChars);
            case json::Type::Number: return v.toQString();
            case json::Type::Bool: return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
            case json::Type::Null: return QStringLiteral("null");
            }
        }
        if (role == Qt::ForegroundRole)
            return jsonTokenColor(token, m_palette);
        if (role == Qt::FontRole)
            return token == JsonToken::Summary ? m_summaryFont : m_valueFont;
        if (role == Qt::ToolTipRole) {
            if (v.isString())
                return elide(v.toQString(), kToolTipChars);
            if (v.isObject() || v.isArray())
                return elide(QString::fromUtf8(v.compact()), kToolTipChars);
            return v.isNumber() ? v.toQString() : QVariant();
        }
        break;
    case TypeColumn:
        if (role == Qt::DisplayRole)
            return QString::fromLatin1(json::typeName(v.type()));
        if (role == Qt::ForegroundRole)
            return jsonTokenColor(JsonToken::Summary, m_palette);
        break;
    default: break;
    }
    return {};
}

QVariant JsonTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case KeyColumn: return tr("Key");
    case ValueColumn: return tr("Value");
    case TypeColumn: return tr("Type");
    default: return {};
    }
}

Qt::ItemFlags JsonTreeModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (!hasChildren(index.siblingAtColumn(0)))
        f |= Qt::ItemNeverHasChildren;
    return f;
}

// ---------------------------------------------------------------- JsonViewer

JsonViewer::JsonViewer(QWidget *parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("jsonViewer"));
    m_model = new JsonTreeModel(this);
    m_model->setPalette(palette());

    auto *bar = new QHBoxLayout;
    bar->setContentsMargins(0, 0, 0, 0);
    auto button = [this, bar](const QString &objectName, const QString &text, const QString &toolTip) {
        auto *b = new QToolButton(this);
        b->setObjectName(objectName);
        b->setText(text);
        b->setToolTip(toolTip);
        b->setAutoRaise(true);
        bar->addWidget(b);
        return b;
    };
    m_treeButton = button(QStringLiteral("jsonTreeMode"), tr("Tree"), tr("Show the value as a foldable tree"));
    m_rawButton = button(QStringLiteral("jsonRawMode"), tr("Raw"), tr("Show the value as JSON text"));
    for (QToolButton *b : {m_treeButton, m_rawButton}) {
        b->setCheckable(true);
        b->setAutoExclusive(true);
    }
    m_treeButton->setChecked(true);
    m_expandButton = button(QStringLiteral("jsonExpandAll"), tr("Expand all"), tr("Unfold every object and array"));
    m_collapseButton =
        button(QStringLiteral("jsonCollapseAll"), tr("Collapse all"), tr("Fold every object and array"));
    m_prettyBox = new QCheckBox(tr("Indent"), this);
    m_prettyBox->setObjectName(QStringLiteral("jsonPretty"));
    m_prettyBox->setToolTip(tr("Indent the text (unchecked: the exact compact text as stored)"));
    m_prettyBox->setChecked(true);
    bar->addWidget(m_prettyBox);
    bar->addStretch(1);
    m_info = new QLabel(this);
    m_info->setObjectName(QStringLiteral("jsonInfo"));
    m_info->setForegroundRole(QPalette::PlaceholderText);
    bar->addWidget(m_info);

    m_tree = new QTreeView(this);
    m_tree->setObjectName(QStringLiteral("jsonTree"));
    m_tree->setModel(m_model);
    m_tree->setUniformRowHeights(true);
    m_tree->setAlternatingRowColors(true);
    m_tree->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_tree->setContextMenuPolicy(Qt::CustomContextMenu);
    m_tree->header()->setStretchLastSection(false);
    m_tree->header()->setSectionResizeMode(JsonTreeModel::KeyColumn, QHeaderView::Interactive);
    m_tree->header()->setSectionResizeMode(JsonTreeModel::ValueColumn, QHeaderView::Stretch);
    m_tree->header()->setSectionResizeMode(JsonTreeModel::TypeColumn, QHeaderView::ResizeToContents);
    m_tree->header()->resizeSection(JsonTreeModel::KeyColumn, 180);

    m_raw = new QPlainTextEdit(this);
    m_raw->setObjectName(QStringLiteral("jsonRaw"));
    m_raw->setReadOnly(true);
    m_raw->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_raw->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_raw->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    m_highlighter = new JsonHighlighter(m_raw->document());

    m_placeholder = new QLabel(this);
    m_placeholder->setObjectName(QStringLiteral("jsonPlaceholder"));
    m_placeholder->setAlignment(Qt::AlignCenter);
    m_placeholder->setWordWrap(true);
    m_placeholder->setForegroundRole(QPalette::PlaceholderText);

    m_stack = new QStackedWidget(this);
    m_stack->addWidget(m_tree);
    m_stack->addWidget(m_raw);
    m_stack->addWidget(m_placeholder);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar);
    layout->addWidget(m_stack, 1);

    m_copyValueAction = new QAction(tr("Copy value"), this);
    m_copyValueAction->setObjectName(QStringLiteral("jsonCopyValue"));
    m_copyValueAction->setShortcut(QKeySequence::Copy);
    m_copyValueAction->setShortcutContext(Qt::WidgetShortcut);
    m_tree->addAction(m_copyValueAction);
    m_copyPathAction = new QAction(tr("Copy path"), this);
    m_copyPathAction->setObjectName(QStringLiteral("jsonCopyPath"));

    connect(m_treeButton, &QToolButton::toggled, this, [this](bool on) {
        if (on)
            setMode(Mode::Tree);
    });
    connect(m_rawButton, &QToolButton::toggled, this, [this](bool on) {
        if (on)
            setMode(Mode::Raw);
    });
    connect(m_expandButton, &QToolButton::clicked, this, &JsonViewer::expandAll);
    connect(m_collapseButton, &QToolButton::clicked, this, &JsonViewer::collapseAll);
    connect(m_prettyBox, &QCheckBox::toggled, this, &JsonViewer::setPretty);
    connect(m_copyValueAction, &QAction::triggered, this, &JsonViewer::copyValue);
    connect(m_copyPathAction, &QAction::triggered, this, &JsonViewer::copyPath);
    connect(m_tree, &QTreeView::customContextMenuRequested, this, &JsonViewer::showTreeMenu);

    clear();
}

JsonViewer::~JsonViewer() = default;

void JsonViewer::setJson(const QByteArray &json, bool keepExpansion)
{
    QSet<QString> expanded;
    const bool restore = keepExpansion && m_model->isValid();
    if (restore)
        collectExpanded(QModelIndex(), expanded);
    m_model->setJson(json);
    if (m_model->isValid()) {
        if (restore)
            restoreExpanded(QModelIndex(), expanded);
        else
            applyDefaultExpansion();
        m_info->setText(m_model->describe() + QStringLiteral(" · ") + formatBytes(json.size()));
    } else {
        m_info->setText(m_model->errorString());
    }
    m_rawStale = true;
    updatePage();
}

void JsonViewer::clear(const QString &placeholder)
{
    m_model->clear();
    m_placeholder->setText(placeholder);
    m_info->clear();
    m_rawStale = true;
    updatePage();
}

QString JsonViewer::placeholderText() const
{
    return m_placeholder->text();
}

void JsonViewer::setMode(Mode mode)
{
    if (mode == m_mode)
        return;
    m_mode = mode;
    (mode == Mode::Tree ? m_treeButton : m_rawButton)->setChecked(true);
    updatePage();
    emit modeChanged(mode);
}

void JsonViewer::setPretty(bool pretty)
{
    if (pretty == m_pretty)
        return;
    m_pretty = pretty;
    m_prettyBox->setChecked(pretty);
    m_rawStale = true;
    updatePage();
}

QString JsonViewer::rawText() const
{
    const QByteArray json = m_model->json();
    return QString::fromUtf8(m_pretty && m_model->isValid() ? prettyJson(json) : json);
}

void JsonViewer::expandAll()
{
    m_tree->expandAll();
}

void JsonViewer::collapseAll()
{
    m_tree->collapseAll();
}

void JsonViewer::changeEvent(QEvent *event)
{
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange) {
        m_model->setPalette(palette());
        m_rawStale = true;
        updatePage();
    }
}

void JsonViewer::updateRaw()
{
    if (!m_rawStale)
        return;
    m_rawStale = false;
    const QString text = rawText();
    m_highlighter->setDocument(text.size() > kHighlightBytes ? nullptr : m_raw->document());
    m_raw->setPlainText(text);
}

void JsonViewer::updatePage()
{
    const bool hasValue = !m_model->json().isEmpty();
    // A value that is not valid JSON can only be shown as text.
    const bool raw = hasValue && (m_mode == Mode::Raw || !m_model->isValid());
    if (!hasValue)
        m_stack->setCurrentWidget(m_placeholder);
    else if (raw)
        m_stack->setCurrentWidget(m_raw);
    else
        m_stack->setCurrentWidget(m_tree);
    if (raw)
        updateRaw();
    const bool tree = hasValue && !raw;
    m_expandButton->setVisible(m_mode == Mode::Tree);
    m_collapseButton->setVisible(m_mode == Mode::Tree);
    m_expandButton->setEnabled(tree);
    m_collapseButton->setEnabled(tree);
    m_prettyBox->setVisible(m_mode == Mode::Raw);
    m_treeButton->setEnabled(hasValue);
    m_rawButton->setEnabled(hasValue);
}

void JsonViewer::applyDefaultExpansion()
{
    if (m_model->nodeCount(kExpandAllNodes + 1) <= kExpandAllNodes)
        m_tree->expandAll();
    else if (m_model->rowCount() <= kExpandTopRows)
        m_tree->expandToDepth(0);
    // else: many rows at the top already; the user unfolds what they need

}

void JsonViewer::collectExpanded(const QModelIndex &parent, QSet<QString> &paths) const
{
    const int rows = m_model->rowCount(parent);
    for (int row = 0; row < rows; ++row) {
        const QModelIndex index = m_model->index(row, 0, parent);
        if (m_tree->isExpanded(index)) {
            paths.insert(index.data(JsonTreeModel::PathRole).toString());
            collectExpanded(index, paths);
        }
    }
}

void JsonViewer::restoreExpanded(const QModelIndex &parent, const QSet<QString> &paths)
{
    const int rows = m_model->rowCount(parent);
    for (int row = 0; row < rows; ++row) {
        const QModelIndex index = m_model->index(row, 0, parent);
        if (m_model->hasChildren(index) && paths.contains(index.data(JsonTreeModel::PathRole).toString())) {
            m_tree->expand(index);
            restoreExpanded(index, paths);
        }
    }
}

void JsonViewer::copyValue()
{
    const QModelIndex current = m_tree->currentIndex();
    const QByteArray text = current.isValid() ? current.data(JsonTreeModel::JsonRole).toByteArray() : m_model->json();
    QApplication::clipboard()->setText(QString::fromUtf8(text));
}

void JsonViewer::copyPath()
{
    const QModelIndex current = m_tree->currentIndex();
    if (current.isValid())
        QApplication::clipboard()->setText(current.data(JsonTreeModel::PathRole).toString());
}

void JsonViewer::showTreeMenu(const QPoint &pos)
{
    const QModelIndex index = m_tree->indexAt(pos);
    if (!index.isValid())
        return;
    m_tree->setCurrentIndex(index);
    QMenu menu(this);
    menu.addAction(m_copyValueAction);
    menu.addAction(m_copyPathAction);
    menu.addSeparator();
    menu.addAction(tr("Expand all"), this, &JsonViewer::expandAll);
    menu.addAction(tr("Collapse all"), this, &JsonViewer::collapseAll);
    menu.exec(m_tree->viewport()->mapToGlobal(pos));
}

} // namespace sidecar::inspector
