#include "jsoneditor.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFontDatabase>
#include <QFontMetricsF>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include <algorithm>

#include "jsonviewer.h"
#include "protocol/json.h"

namespace sidecar::inspector {

namespace {

constexpr int kValidateDelayMs = 200;
constexpr double kMinTtl = 0.001;        // TOOLS.md: TTLs are at least 0.001 s
constexpr double kMaxTtl = 31536000;     // and at most a year
constexpr qsizetype kMaxKeyBytes = 512;  // keys are at most 512 bytes of UTF-8

} // namespace

Result<QByteArray> JsonEditor::validate(const QByteArray &text)
{
    if (text.trimmed().isEmpty())
        return fail(ErrorCode::InvalidArgument, tr("Enter a JSON value (for example {}, [], \"text\", 42, null)"));
    json::ParseError error;
    auto document = json::parse(text, &error);
    if (!document) {
        const auto [line, column] = lineAndColumn(text, qsizetype(error.offset));
        return fail(ErrorCode::InvalidArgument, tr("Line %1, column %2: %3")
                                                    .arg(line)
                                                    .arg(column)
                                                    .arg(QString::fromStdString(error.message)));
    }
    if (document->root().hasDuplicateKeys())
        return fail(ErrorCode::InvalidArgument, tr("An object has the same key twice (the sidecar refuses that)"));
    return document->root().compact();
}

JsonEditor::JsonEditor(Mode mode, QWidget *parent) : QDialog(parent), m_mode(mode)
{
    setObjectName(QStringLiteral("jsonEditor"));
    setWindowTitle(mode == Mode::Create ? tr("New key") : tr("Edit value"));
    resize(620, 520);

    m_key = new QLineEdit(this);
    m_key->setObjectName(QStringLiteral("editorKey"));
    m_key->setPlaceholderText(tr("for example team/a/config"));
    m_key->setReadOnly(mode == Mode::Edit);
    m_key->setClearButtonEnabled(mode == Mode::Create);

    m_versionLabel = new QLabel(this);
    m_versionLabel->setObjectName(QStringLiteral("editorVersion"));
    m_versionLabel->setVisible(false);

    m_value = new QPlainTextEdit(this);
    m_value->setObjectName(QStringLiteral("editorValue"));
    m_value->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_value->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_value->setTabChangesFocus(false);
    m_value->setTabStopDistance(QFontMetricsF(m_value->font()).horizontalAdvance(QLatin1Char(' ')) * 2);
    m_value->setPlaceholderText(QStringLiteral("{\"status\": \"ready\", \"count\": 1}"));
    new JsonHighlighter(m_value->document());

    auto *formatButton = new QPushButton(tr("Indent"), this);
    formatButton->setObjectName(QStringLiteral("editorIndent"));
    formatButton->setToolTip(tr("Indent the value (only whitespace changes)"));
    auto *compactButton = new QPushButton(tr("Compact"), this);
    compactButton->setObjectName(QStringLiteral("editorCompact"));
    compactButton->setToolTip(tr("Remove insignificant whitespace"));
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("editorStatus"));
    m_status->setWordWrap(true);
    auto *tools = new QHBoxLayout;
    tools->addWidget(m_status, 1);
    tools->addWidget(formatButton);
    tools->addWidget(compactButton);

    m_ttlEnabled = new QCheckBox(tr("Expire after"), this);
    m_ttlEnabled->setObjectName(QStringLiteral("editorTtlEnabled"));
    m_ttl = new QDoubleSpinBox(this);
    m_ttl->setObjectName(QStringLiteral("editorTtl"));
    m_ttl->setRange(kMinTtl, kMaxTtl);
    m_ttl->setDecimals(3);
    m_ttl->setValue(60);
    m_ttl->setSuffix(tr(" s"));
    m_ttl->setEnabled(false);
    m_ttlNote = new QLabel(mode == Mode::Edit ? tr("Without a TTL the key never expires (saving removes an expiry "
                                                   "it has now).")
                                              : tr("Without a TTL the key never expires."),
                           this);
    m_ttlNote->setForegroundRole(QPalette::PlaceholderText);
    m_ttlNote->setWordWrap(true);
    auto *ttlRow = new QHBoxLayout;
    ttlRow->addWidget(m_ttlEnabled);
    ttlRow->addWidget(m_ttl);
    ttlRow->addWidget(m_ttlNote, 1);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_buttons->button(QDialogButtonBox::Ok)->setText(mode == Mode::Create ? tr("Create") : tr("Save"));
    m_buttons->button(QDialogButtonBox::Ok)->setObjectName(QStringLiteral("editorOk"));

    auto *form = new QFormLayout;
    form->addRow(tr("Key:"), m_key);
    form->addRow(QString(), m_versionLabel);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("Value (JSON):"), this));
    layout->addWidget(m_value, 1);
    layout->addLayout(tools);
    layout->addLayout(ttlRow);
    layout->addWidget(m_buttons);

    m_validateTimer.setSingleShot(true);
    m_validateTimer.setInterval(kValidateDelayMs);
    connect(&m_validateTimer, &QTimer::timeout, this, &JsonEditor::validateNow);
    connect(m_value, &QPlainTextEdit::textChanged, this, [this] {
        m_buttons->button(QDialogButtonBox::Ok)->setEnabled(false);
        m_validateTimer.start();
    });
    connect(m_key, &QLineEdit::textChanged, this, &JsonEditor::validateNow);
    connect(m_ttlEnabled, &QCheckBox::toggled, m_ttl, &QWidget::setEnabled);
    connect(formatButton, &QPushButton::clicked, this, [this] { reformat(true); });
    connect(compactButton, &QPushButton::clicked, this, [this] { reformat(false); });
    connect(m_buttons, &QDialogButtonBox::accepted, this, &JsonEditor::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &JsonEditor::reject);

    (mode == Mode::Create ? static_cast<QWidget *>(m_key) : m_value)->setFocus();
    validateNow();
}

JsonEditor::~JsonEditor() = default;

void JsonEditor::setKey(const QString &key)
{
    m_key->setText(key);
}

QString JsonEditor::key() const
{
    return m_key->text();
}

void JsonEditor::setValueJson(const QByteArray &json)
{
    setText(QString::fromUtf8(prettyJson(json)));
}

void JsonEditor::setText(const QString &text)
{
    m_value->setPlainText(text);
    validateNow();
}

QString JsonEditor::text() const
{
    return m_value->toPlainText();
}

QByteArray JsonEditor::valueJson() const
{
    return m_valid ? m_compact : QByteArray();
}

void JsonEditor::setTtl(std::optional<double> seconds)
{
    m_ttlEnabled->setChecked(seconds.has_value());
    if (seconds)
        m_ttl->setValue(std::clamp(*seconds, kMinTtl, kMaxTtl));
}

std::optional<double> JsonEditor::ttl() const
{
    return m_ttlEnabled->isChecked() ? std::optional<double>(m_ttl->value()) : std::nullopt;
}

void JsonEditor::setVersion(std::optional<qint64> version)
{
    m_versionLabel->setVisible(version.has_value());
    if (version) {
        m_versionLabel->setText(tr("Editing version %1: saving fails (and overwrites nothing) if another writer "
                                   "changes the key first.")
                                    .arg(*version));
    }
}

bool JsonEditor::isValid() const
{
    return m_valid && !m_key->text().isEmpty() && m_key->text().toUtf8().size() <= kMaxKeyBytes;
}

QString JsonEditor::validationMessage() const
{
    return m_message;
}

void JsonEditor::accept()
{
    validateNow();
    if (!isValid())
        return;
    QDialog::accept();
}

void JsonEditor::validateNow()
{
    m_validateTimer.stop();
    const Result<QByteArray> result = validate(m_value->toPlainText().toUtf8());
    m_valid = result.has_value();
    m_compact = m_valid ? *result : QByteArray();
    if (!m_valid)
        m_message = result.error().message;
    else if (m_key->text().isEmpty())
        m_message = tr("Enter a key");
    else if (m_key->text().toUtf8().size() > kMaxKeyBytes)
        m_message = tr("A key is at most %1 bytes of UTF-8").arg(kMaxKeyBytes);
    else
        m_message = m_compact.size() == 1 ? tr("Valid JSON (1 byte compact)")
                                          : tr("Valid JSON (%1 bytes compact)").arg(m_compact.size());
    const bool ok = isValid();
    m_status->setText(m_message);
    m_status->setForegroundRole(ok ? QPalette::PlaceholderText : QPalette::BrightText);
    QPalette palette = m_status->palette();
    palette.setColor(QPalette::BrightText, QColor(0xc0, 0x1c, 0x28));
    m_status->setPalette(palette);
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(ok);
}

void JsonEditor::reformat(bool pretty)
{
    validateNow();
    if (!m_valid)
        return;
    setText(QString::fromUtf8(pretty ? prettyJson(m_compact) : m_compact));
}

} // namespace sidecar::inspector
