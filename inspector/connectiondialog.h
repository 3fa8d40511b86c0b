#pragma once

// ConnectionDialog: File → Connect… Three pages, one per kind of connection:
// - HTTP: the URL (default http://127.0.0.1:8000/mcp) and an optional bearer token, with
//   "Remember the token": unticked (the default), the token is used for this connection and kept in
//   memory only; ticked, it is stored with the recent connection in the settings file, in plain text
//   (the dialog says so and where that file is).
// - Command (stdio): a command line to launch, split as QProcess::splitCommand does; leading
//   NAME=value words set the child's environment.
// - Database file: a SQLite file, opened by launching the sidecar binary over stdio; the dialog
//   shows which binary will run, or that none was found.
// Connect stays disabled until the page's fields make a spec that can be tried (ConnectionSpec::
// problem() is shown under the fields otherwise).
//
// Thread: GUI thread only. Ownership: a normal QDialog; the caller owns it.

#include <QDialog>

#include "connection.h"

class QCheckBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QTabWidget;

namespace sidecar::inspector {

class ConnectionDialog : public QDialog
{
    Q_OBJECT
public:
    explicit ConnectionDialog(QWidget *parent = nullptr);

    // Fills the page of the spec's kind and shows it.
    void setSpec(const ConnectionSpec &spec);
    // What the visible page describes.
    ConnectionSpec spec() const;
    bool rememberToken() const;
    void setRememberToken(bool remember);
    // Puts the focus on the token field (a recent HTTP connection whose token was not stored).
    void focusToken();

private:
    QWidget *createHttpPage();
    QWidget *createCommandPage();
    QWidget *createDatabasePage();
    void browseDatabase();
    void browseProgram();
    void validate();

    QTabWidget *m_pages = nullptr;
    QLineEdit *m_url = nullptr;
    QLineEdit *m_token = nullptr;
    QCheckBox *m_rememberToken = nullptr;
    QLineEdit *m_command = nullptr;
    QLineEdit *m_database = nullptr;
    QLabel *m_serverLabel = nullptr;
    QString m_serverProgram; // Database: the binary a given spec named; empty: locateServer()
    QLabel *m_problem = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
};

} // namespace sidecar::inspector
