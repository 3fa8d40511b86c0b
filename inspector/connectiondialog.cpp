#include "connectiondialog.h"

#include <QAction>
#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QStyle>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>

namespace sidecar::inspector {

namespace {

enum Page { HttpPage, CommandPage, DatabasePage };

QLabel *hint(const QString &text, QWidget *parent)
{
    auto *label = new QLabel(text, parent);
    label->setWordWrap(true);
    label->setTextFormat(Qt::RichText);
    QFont font = label->font();
    font.setPointSizeF(font.pointSizeF() * 0.92);
    label->setFont(font);
    label->setForegroundRole(QPalette::PlaceholderText);
    return label;
}

} // namespace

ConnectionDialog::ConnectionDialog(QWidget *parent) : QDialog(parent)
{
    setObjectName(QStringLiteral("connectionDialog"));
    setWindowTitle(tr("Connect to a sidecar"));

    m_pages = new QTabWidget(this);
    m_pages->setObjectName(QStringLiteral("connectionKinds"));
    m_pages->addTab(createHttpPage(), tr("HTTP"));
    m_pages->addTab(createCommandPage(), tr("Command (stdio)"));
    m_pages->addTab(createDatabasePage(), tr("Database file"));
    connect(m_pages, &QTabWidget::currentChanged, this, &ConnectionDialog::validate);

    m_problem = new QLabel(this);
    m_problem->setObjectName(QStringLiteral("connectionProblem"));
    m_problem->setWordWrap(true);
    QPalette palette = m_problem->palette();
    palette.setColor(QPalette::WindowText, QColor(0xc6, 0x28, 0x28));
    m_problem->setPalette(palette);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_buttons->button(QDialogButtonBox::Ok)->setText(tr("Connect"));
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_pages);
    layout->addWidget(m_problem);
    layout->addWidget(m_buttons);
    resize(560, sizeHint().height());
    validate();
}

QWidget *ConnectionDialog::createHttpPage()
{
    auto *page = new QWidget;
    m_url = new QLineEdit(ConnectionSpec::defaultUrl().toString(), page);
    m_url->setObjectName(QStringLiteral("connectionUrl"));
    m_url->setPlaceholderText(ConnectionSpec::defaultUrl().toString());
    connect(m_url, &QLineEdit::textChanged, this, &ConnectionDialog::validate);

    m_token = new QLineEdit(page);
    m_token->setObjectName(QStringLiteral("connectionToken"));
    m_token->setEchoMode(QLineEdit::Password);
    m_token->setPlaceholderText(tr("Only when the sidecar has SIDECAR_TOKENS_FILE"));
    QAction *reveal = m_token->addAction(style()->standardIcon(QStyle::SP_FileDialogContentsView),
                                         QLineEdit::TrailingPosition);
    reveal->setCheckable(true);
    reveal->setToolTip(tr("Show the token"));
    connect(reveal, &QAction::toggled, this,
            [this](bool shown) { m_token->setEchoMode(shown ? QLineEdit::Normal : QLineEdit::Password); });

    m_rememberToken = new QCheckBox(tr("Remember the token"), page);
    m_rememberToken->setObjectName(QStringLiteral("connectionRememberToken"));
    m_rememberToken->setToolTip(
        tr("Stored in plain text in %1").arg(QDir::toNativeSeparators(QSettings().fileName())));

    auto *form = new QFormLayout(page);
    form->addRow(tr("&URL:"), m_url);
    form->addRow(tr("Bearer &token:"), m_token);
    form->addRow(QString(), m_rememberToken);
    form->addRow(hint(
        tr("The sidecar's Streamable HTTP endpoint, as served by <code>mcp-state-sidecar-http</code> or "
           "<code>mcp-state-sidecar --http</code>. Unless <i>Remember the token</i> is ticked, the token "
           "is kept in memory only; ticked, it is saved in plain text in the settings file."),
        page));
    return page;
}

QWidget *ConnectionDialog::createCommandPage()
{
    auto *page = new QWidget;
    m_command = new QLineEdit(page);
    m_command->setObjectName(QStringLiteral("connectionCommand"));
    m_command->setPlaceholderText(tr("DB_PATH=/path/to/state.db mcp-state-sidecar --log-level warning"));
    connect(m_command, &QLineEdit::textChanged, this, &ConnectionDialog::validate);
    auto *browse = new QToolButton(page);
    browse->setText(tr("…"));
    browse->setToolTip(tr("Choose the program"));
    connect(browse, &QToolButton::clicked, this, &ConnectionDialog::browseProgram);
    auto *row = new QHBoxLayout;
    row->addWidget(m_command, 1);
    row->addWidget(browse);

    auto *form = new QFormLayout(page);
    form->addRow(tr("&Command:"), row);
    form->addRow(
        hint(tr("A server speaking MCP over stdio, started as a child process and stopped when the inspector "
                "disconnects. Quote words that contain spaces; leading <code>NAME=value</code> words set "
                "environment variables of the server."),
             page));
    return page;
}

QWidget *ConnectionDialog::createDatabasePage()
{
    auto *page = new QWidget;
    m_database = new QLineEdit(page);
    m_database->setObjectName(QStringLiteral("connectionDatabase"));
    m_database->setPlaceholderText(tr("/path/to/state_sidecar.db"));
    connect(m_database, &QLineEdit::textChanged, this, &ConnectionDialog::validate);
    auto *browse = new QToolButton(page);
    browse->setText(tr("…"));
    browse->setToolTip(tr("Choose the database file"));
    connect(browse, &QToolButton::clicked, this, &ConnectionDialog::browseDatabase);
    auto *row = new QHBoxLayout;
    row->addWidget(m_database, 1);
    row->addWidget(browse);

    m_serverLabel = new QLabel(page);
    m_serverLabel->setObjectName(QStringLiteral("connectionServer"));
    m_serverLabel->setWordWrap(true);
    m_serverLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *form = new QFormLayout(page);
    form->addRow(tr("&Database:"), row);
    form->addRow(tr("Server:"), m_serverLabel);
    form->addRow(
        hint(tr("Opens a SQLite file by starting the sidecar on it over stdio (a missing file is created). "
                "Other sidecars may use the same file at the same time: the inspector sees their changes."),
             page));
    return page;
}

void ConnectionDialog::browseDatabase()
{
    const QString start = m_database->text().isEmpty() ? QDir::homePath() : m_database->text();
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open a sidecar database"), start,
        tr("SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)"));
    if (!path.isEmpty())
        m_database->setText(QDir::toNativeSeparators(path));
}

void ConnectionDialog::browseProgram()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Choose the server program"),
                                                      QDir::homePath());
    if (path.isEmpty())
        return;
    QString quoted = path;
    if (quoted.contains(u' '))
        quoted = u'"' + quoted + u'"';
    m_command->setText(quoted);
}

void ConnectionDialog::setSpec(const ConnectionSpec &spec)
{
    switch (spec.kind) {
    case ConnectionSpec::Kind::Http:
        m_url->setText(spec.url.toString());
        m_token->setText(QString::fromUtf8(spec.token));
        m_pages->setCurrentIndex(HttpPage);
        break;
    case ConnectionSpec::Kind::Command:
        m_command->setText(spec.command);
        m_pages->setCurrentIndex(CommandPage);
        break;
    case ConnectionSpec::Kind::Database:
        m_database->setText(QDir::toNativeSeparators(spec.databasePath));
        m_serverProgram = spec.serverProgram;
        m_pages->setCurrentIndex(DatabasePage);
        break;
    }
    validate();
}

ConnectionSpec ConnectionDialog::spec() const
{
    switch (m_pages->currentIndex()) {
    case CommandPage: return ConnectionSpec::stdioCommand(m_command->text());
    case DatabasePage:
        return ConnectionSpec::database(QDir::fromNativeSeparators(m_database->text().trimmed()),
                                        m_serverProgram);
    default:
        return ConnectionSpec::http(QUrl::fromUserInput(m_url->text().trimmed()),
                                    m_token->text().trimmed().toUtf8());
    }
}

bool ConnectionDialog::rememberToken() const
{
    return m_rememberToken->isChecked();
}

void ConnectionDialog::setRememberToken(bool remember)
{
    m_rememberToken->setChecked(remember);
}

void ConnectionDialog::focusToken()
{
    m_pages->setCurrentIndex(HttpPage);
    m_token->setFocus();
}

void ConnectionDialog::validate()
{
    if (m_pages->currentIndex() == DatabasePage) {
        const QString server = m_serverProgram.isEmpty() ? locateServer() : m_serverProgram;
        m_serverLabel->setText(server.isEmpty()
                                   ? tr("mcp-state-sidecar was not found next to the inspector or on PATH")
                                   : QDir::toNativeSeparators(server));
    }
    const ConnectionSpec current = spec();
    const QString problem = current.problem();
    // An empty field is not worth a red sentence yet: the placeholder already says what goes there.
    const bool empty =
        (current.kind == ConnectionSpec::Kind::Http && m_url->text().trimmed().isEmpty())
        || (current.kind == ConnectionSpec::Kind::Command && m_command->text().trimmed().isEmpty())
        || (current.kind == ConnectionSpec::Kind::Database && m_database->text().trimmed().isEmpty());
    m_problem->setText(empty ? QString() : problem);
    m_problem->setVisible(!empty && !problem.isEmpty());
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(problem.isEmpty());
}

} // namespace sidecar::inspector
