#pragma once

// KeysView: the inspector's Keys tab. On the left, the keys as a tree by prefix (KeyTreeModel:
// folders rolled up by the server with a separator the user picks, pages fetched as the user
// scrolls, a prefix filter answered by the server); on the right, the selected key's value in a
// JsonViewer with its version, writer, update time and a live TTL countdown.
//
// Changes: create (only if absent), edit (written with if_version = the version shown, so a
// concurrent write is reported as a conflict naming the current version and never overwritten)
// and delete (confirmed, with if_version too). Every value is validated with the project's JSON
// parser before it is sent. Read-only mode hides these actions.
//
// Live: the view subscribes (through the McpClient) to state://kv and to the selected key's URI;
// updates are coalesced (at most four tree refreshes and four value reloads per second) and
// re-list only the folders that are loaded and visible. Paused, updates are noted and applied at
// once on unpause.
//
// Keyboard (while the tab has focus): Ctrl+N new key, F2 edit, Delete delete, Ctrl+F filter, F5
// reload.
//
// Thread: GUI thread only. Ownership: the SidecarClient (and its McpClient) are the window's; the
// window calls setClient(nullptr) before they go away (the view also lets go of a client whose
// McpClient is destroyed). Callbacks in flight hold only a QPointer to the view.

#include <QByteArray>
#include <QMetaObject>
#include <QPointer>
#include <QString>
#include <QTimer>

#include <optional>

#include "client/sidecarclient.h"
#include "stateview.h"

class QAction;
class QComboBox;
class QFrame;
class QLabel;
class QLineEdit;
class QPushButton;
class QSplitter;
class QToolBar;
class QTreeView;

namespace sidecar::client {
class McpClient;
}

namespace sidecar::inspector {

class JsonViewer;
class KeyTreeModel;

class KeysView : public StateView
{
    Q_OBJECT
public:
    static constexpr int kCoalesceMs = 250;    // live updates: at most one reload per this much
    static constexpr int kFilterDelayMs = 300; // typing in the filter: list after this pause
    static constexpr int kPageCheckMs = 50;    // scrolling: look for folders to page after this pause

    explicit KeysView(QWidget *parent = nullptr);
    ~KeysView() override;

    // StateView
    void setClient(client::SidecarClient *client) override;
    void setPaused(bool paused) override;
    void setReadOnly(bool readOnly) override;
    void reload() override;

    client::SidecarClient *client() const { return m_client; }
    bool isPaused() const { return m_paused; }
    bool isReadOnly() const { return m_readOnly; }

    // The agent_id written with changes made here (default "mcp-state-inspector").
    void setAgentId(const QString &agentId) { m_agentId = agentId; }
    QString agentId() const { return m_agentId; }

    // The hierarchy's separator: '/', ':' or '.' (the combo box).
    void setSeparator(QChar separator);
    QChar separator() const;
    // The prefix filter, applied at once (typing in the box applies it after a short pause).
    void setFilter(const QString &prefix);
    QString filter() const;

    // Shows a key's value and details (and selects its row when it is loaded).
    void selectKey(const QString &key);
    // The key whose details are shown (empty: none, or a folder is selected).
    QString selectedKey() const { return m_selectedKey; }
    // The shown key's version (nullopt: no key shown, or it no longer exists).
    std::optional<qint64> shownVersion() const;
    // The shown key's details as last read (nullopt: none).
    const std::optional<client::StateEntry> &shownEntry() const { return m_entry; }
    // The TTL line ("expires in 12 s (at …)", "no expiry", "expired").
    QString ttlText() const;
    // The conflict or error banner's text (empty when it is hidden).
    QString conflictMessage() const;

    // Writes; the outcome is reported with statusMessage(), the banner (conflicts, errors) and
    // writeFinished(). `valueJson` is validated first (nothing is sent when it is not valid JSON).
    // Creates `key` only if it does not exist (if_version 0).
    void createKey(const QString &key, const QByteArray &valueJson, std::optional<double> ttlSeconds = {});
    // Writes `key` only if its version is still `ifVersion`.
    void saveValue(const QString &key, const QByteArray &valueJson, qint64 ifVersion,
                   std::optional<double> ttlSeconds = {});
    // Deletes `key` only if its version is still `ifVersion`.
    void deleteKey(const QString &key, qint64 ifVersion);

    // The user's commands (the actions and shortcuts): dialogs, then the writes above.
    void newKey();
    void editSelected();
    void deleteSelected();
    void focusFilter();

    KeyTreeModel *model() const { return m_model; }
    QTreeView *treeView() const { return m_tree; }
    JsonViewer *viewer() const { return m_viewer; }
    QAction *newAction() const { return m_newAction; }
    QAction *editAction() const { return m_editAction; }
    QAction *deleteAction() const { return m_deleteAction; }
    QAction *reloadAction() const { return m_reloadAction; }

signals:
    // The key whose details are shown changed (empty: none).
    void currentKeyChanged(const QString &key);
    // A create, save or delete finished: ok false on a conflict, a refused condition or an error.
    void writeFinished(const QString &key, bool ok);

private:
    void buildUi();
    void createActions();
    void updateActions();
    void updateTreeStatus();

    void connectMcp();
    void disconnectMcp();
    void onResourceUpdated(const QString &uri);
    void onMcpStateChanged();
    void scheduleTreeRefresh();
    void scheduleDetailsReload();
    void refreshTree();
    bool isVisibleInTree(const QModelIndex &index) const;
    void syncTreeSelection();
    // Lists the next page of every expanded folder whose last loaded row is in sight.
    void fetchVisiblePages();

    void onCurrentChanged(const QModelIndex &current);
    void showFolder(const QString &prefix);
    void setSelectedKey(const QString &key);
    void loadDetails(bool keepExpansion);
    void showEntry(const client::StateEntry &entry, bool keepExpansion);
    void showGone(bool expired);
    void clearDetails(const QString &placeholder);
    void updateTtl();

    void onWriteResult(const QString &key, const char *what, std::optional<qint64> expected,
                       const Result<client::WriteResult> &result);
    void showBanner(const QString &text, bool offerReload);
    void hideBanner();

    client::SidecarClient *m_client = nullptr;
    QPointer<client::McpClient> m_mcp;
    QList<QMetaObject::Connection> m_mcpConnections;
    bool m_mcpWasReady = false;
    bool m_paused = false;
    bool m_readOnly = false;
    bool m_missedTree = false; // updates arrived while paused
    bool m_missedKey = false;
    QString m_agentId = QStringLiteral("mcp-state-inspector");

    KeyTreeModel *m_model = nullptr;
    bool m_syncingTree = false; // rows are being removed, or the view's selection is set here: not the user

    // The details of the selected key.
    QString m_selectedKey;
    QString m_shownName; // the key or folder the details show
    QString m_subscribedKeyUri;
    std::optional<client::StateEntry> m_entry;
    bool m_gone = false;        // the key no longer exists
    bool m_expiredSeen = false; // the countdown reached zero
    quint64 m_detailsOp = 0;

    QTimer m_treeTimer;
    QTimer m_detailsTimer;
    QTimer m_filterTimer;
    QTimer m_tickTimer;
    QTimer m_pageTimer;

    QToolBar *m_toolBar = nullptr;
    QComboBox *m_separatorCombo = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QSplitter *m_splitter = nullptr;
    QTreeView *m_tree = nullptr;
    QLabel *m_treeStatus = nullptr;
    QFrame *m_banner = nullptr;
    QLabel *m_bannerLabel = nullptr;
    QPushButton *m_bannerReload = nullptr;
    QLabel *m_keyLabel = nullptr;
    QLabel *m_stateLabel = nullptr;
    QLabel *m_versionLabel = nullptr;
    QLabel *m_agentLabel = nullptr;
    QLabel *m_updatedLabel = nullptr;
    QLabel *m_ttlLabel = nullptr;
    QWidget *m_detailsHeader = nullptr;
    JsonViewer *m_viewer = nullptr;

    QAction *m_newAction = nullptr;
    QAction *m_editAction = nullptr;
    QAction *m_deleteAction = nullptr;
    QAction *m_reloadAction = nullptr;
    QAction *m_filterAction = nullptr;
};

} // namespace sidecar::inspector
