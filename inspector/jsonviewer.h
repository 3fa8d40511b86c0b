#pragma once

// JsonViewer: a read-only viewer for one JSON value, used wherever the inspector shows stored JSON
// (a key's value, a run's input and result, a step's output, a session's context, history values).
//
// The input is the exact compact JSON text the server sent. It is parsed with the project's own
// parser (protocol/json.h), which keeps every number's text, string escapes and key order as sent:
// QJsonDocument would round 12345678901234567890 and re-order keys, so it is never used here.
//
// - JsonTreeModel: the parsed value as a lazily built tree (Key | Value | Type), with colours per
//   token kind, JSONPath and the compact text of every node as extra roles.
// - JsonHighlighter: syntax colours for JSON text in a QTextDocument (raw view, editor).
// - prettyJson(): indents a valid JSON text by inserting whitespace only, so strings, escapes and
//   numbers stay byte for byte what they were.
// - JsonViewer: a tree view with folding (expand/collapse all, expansion kept across updates of
//   the same value on request) and a "raw" text mode (pretty or exact compact text), with copy
//   actions.
//
// Thread: GUI thread only. Ownership: a viewer owns its model, views and the parsed document.

#include <QAbstractItemModel>
#include <QByteArray>
#include <QColor>
#include <QFont>
#include <QPalette>
#include <QSet>
#include <QString>
#include <QSyntaxHighlighter>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "protocol/json.h"

class QAction;
class QCheckBox;
class QLabel;
class QPlainTextEdit;
class QStackedWidget;
class QToolButton;
class QTreeView;

namespace sidecar::inspector {

// What a piece of JSON text is, for colouring.
enum class JsonToken { Key, String, Number, Boolean, Null, Punctuation, Index, Summary };

// The colour of a token kind, readable on the palette's base colour (lighter shades on dark themes).
QColor jsonTokenColor(JsonToken token, const QPalette &palette = QPalette());

// Indents a valid JSON text (`indent` spaces per level) by inserting whitespace between tokens
// only; empty objects and arrays stay "{}" and "[]". Text that is not valid JSON comes back
// unchanged.
QByteArray prettyJson(const QByteArray &validJson, int indent = 2);

// Line and column (both from 1, column in characters) of a byte offset into UTF-8 text.
std::pair<int, int> lineAndColumn(const QByteArray &utf8, qsizetype byteOffset);

class JsonHighlighter : public QSyntaxHighlighter
{
    Q_OBJECT
public:
    explicit JsonHighlighter(QTextDocument *document);

protected:
    void highlightBlock(const QString &text) override;
};

class JsonTreeModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column { KeyColumn, ValueColumn, TypeColumn, ColumnCount };
    enum Role {
        PathRole = Qt::UserRole + 1, // QString: JSONPath of the node ("$.a[0]['odd key']")
        JsonRole,                    // QByteArray: the node's compact JSON text, exactly as sent
        TokenRole,                   // int (JsonToken): the kind of the node's value
        TypeRole,                    // QString: "object", "array", "string", "number", "boolean", "null"
    };

    explicit JsonTreeModel(QObject *parent = nullptr);
    ~JsonTreeModel() override;

    // Parses and shows `json`; false (and an empty model) when it is not valid JSON, with
    // errorString() saying where.
    bool setJson(const QByteArray &json);
    void clear();
    QByteArray json() const { return m_json; }
    bool isValid() const { return m_document.has_value(); }
    QString errorString() const { return m_error; }
    // "object {3 keys}", "array [2 items]", "number": what the document's root is.
    QString describe() const;
    // Values in the document (containers and scalars), counted up to `cap`.
    int nodeCount(int cap) const;

    // The palette the colours are chosen for (the view's).
    void setPalette(const QPalette &palette);

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    bool hasChildren(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;

private:
    struct Node
    {
        const json::Value *value = nullptr;
        Node *parent = nullptr;
        int row = 0;
        bool member = false; // an object member (else an array item or the root value)
        QString key;         // the member's decoded key
        mutable std::vector<std::unique_ptr<Node>> children;
        mutable bool built = false;
    };

    Node *nodeOf(const QModelIndex &index) const;
    const std::vector<std::unique_ptr<Node>> &childrenOf(const Node *node) const;
    QString pathOf(const Node *node) const;

    QByteArray m_json;
    std::optional<json::Document> m_document;
    std::unique_ptr<Node> m_root; // invisible: its children are the rows at the top
    QString m_error;
    QPalette m_palette;
    QFont m_valueFont;   // values: fixed width
    QFont m_summaryFont; // "{3 keys}": fixed width, italic
};

class JsonViewer : public QWidget
{
    Q_OBJECT
public:
    enum class Mode { Tree, Raw };
    Q_ENUM(Mode)

    explicit JsonViewer(QWidget *parent = nullptr);
    ~JsonViewer() override;

    // Shows `json` (exact compact text). keepExpansion: when the same place showed a value before
    // (a live update), re-expand the paths that were expanded; otherwise expand a small value
    // entirely, a big one with few top rows one level deep, and leave a big one with many folded.
    void setJson(const QByteArray &json, bool keepExpansion = false);
    // Shows nothing but `placeholder` (e.g. "Select a key").
    void clear(const QString &placeholder = {});
    QByteArray json() const { return m_model->json(); }
    bool hasValue() const { return !m_model->json().isEmpty(); }

    void setMode(Mode mode);
    Mode mode() const { return m_mode; }
    // Raw mode: indented (default) or the exact compact text.
    void setPretty(bool pretty);
    bool isPretty() const { return m_pretty; }

    // The text the raw view shows (also when the tree is shown).
    QString rawText() const;
    QString placeholderText() const;

    void expandAll();
    void collapseAll();

    JsonTreeModel *model() const { return m_model; }
    QTreeView *treeView() const { return m_tree; }
    QPlainTextEdit *rawView() const { return m_raw; }

signals:
    void modeChanged(sidecar::inspector::JsonViewer::Mode mode);

protected:
    void changeEvent(QEvent *event) override;

private:
    void updateRaw();
    void updatePage();
    void applyDefaultExpansion();
    void collectExpanded(const QModelIndex &parent, QSet<QString> &paths) const;
    void restoreExpanded(const QModelIndex &parent, const QSet<QString> &paths);
    void copyValue();
    void copyPath();
    void showTreeMenu(const QPoint &pos);

    JsonTreeModel *m_model = nullptr;
    QStackedWidget *m_stack = nullptr;
    QTreeView *m_tree = nullptr;
    QPlainTextEdit *m_raw = nullptr;
    JsonHighlighter *m_highlighter = nullptr;
    QLabel *m_placeholder = nullptr;
    QLabel *m_info = nullptr;
    QToolButton *m_treeButton = nullptr;
    QToolButton *m_rawButton = nullptr;
    QToolButton *m_expandButton = nullptr;
    QToolButton *m_collapseButton = nullptr;
    QCheckBox *m_prettyBox = nullptr;
    QAction *m_copyValueAction = nullptr;
    QAction *m_copyPathAction = nullptr;
    Mode m_mode = Mode::Tree;
    bool m_pretty = true;
    bool m_rawStale = true;
};

} // namespace sidecar::inspector
