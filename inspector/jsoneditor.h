#pragma once

// JsonEditor: the dialog that creates a key or edits a key's value in the inspector. It checks
// the text as the sidecar will (one strict RFC 8259 JSON value, no duplicate keys, parsed with
// protocol/json.h so numbers keep their text), points at the line and column of a mistake, and
// only lets the user confirm valid JSON. The value handed back is the compact form of what was
// typed: key order, number text and string escapes as typed.
//
// Create mode asks for the key; edit mode shows it read-only with the version being edited. Both
// offer an optional TTL (state_set without one clears an existing TTL: the dialog says so).
//
// Thread: GUI thread only. Ownership: an ordinary QDialog (the caller's).

#include <QByteArray>
#include <QDialog>
#include <QString>
#include <QTimer>

#include <optional>

#include "protocol/result.h"

class QCheckBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;

namespace sidecar::inspector {

class JsonEditor : public QDialog
{
    Q_OBJECT
public:
    enum class Mode { Create, Edit };

    explicit JsonEditor(Mode mode, QWidget *parent = nullptr);
    ~JsonEditor() override;

    Mode mode() const { return m_mode; }
    void setKey(const QString &key);
    QString key() const;
    // Shows a stored value, indented (whitespace only is added).
    void setValueJson(const QByteArray &json);
    void setText(const QString &text);
    QString text() const;
    // The compact text of the valid value typed; empty while it is not valid.
    QByteArray valueJson() const;
    // The TTL to write (nullopt: none). setTtl(nullopt) unticks the box.
    void setTtl(std::optional<double> seconds);
    std::optional<double> ttl() const;
    // Edit mode: the version being edited (shown; the caller writes with if_version = it).
    void setVersion(std::optional<qint64> version);

    bool isValid() const;
    // "Valid JSON" or where and why it is not.
    QString validationMessage() const;

    // The sidecar's acceptance rules for a value: the compact text, or InvalidArgument saying where
    // the text goes wrong (line and column) or which object repeats a key.
    static Result<QByteArray> validate(const QByteArray &text);

public slots:
    void accept() override;

private:
    void validateNow();
    void reformat(bool pretty);

    Mode m_mode;
    QLineEdit *m_key = nullptr;
    QLabel *m_versionLabel = nullptr;
    QPlainTextEdit *m_value = nullptr;
    QLabel *m_status = nullptr;
    QCheckBox *m_ttlEnabled = nullptr;
    QDoubleSpinBox *m_ttl = nullptr;
    QLabel *m_ttlNote = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
    QTimer m_validateTimer;
    QByteArray m_compact; // the last valid value, compact
    QString m_message;
    bool m_valid = false;
};

} // namespace sidecar::inspector
