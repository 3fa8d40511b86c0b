#pragma once

// Logging for the daemon. stdout of the stdio transport carries protocol messages only, so
// every log line goes to stderr: installLogging() replaces Qt's message handler with one that
// writes "<ISO-8601 UTC time> <level> <category>: <message>" to stderr, one line per message,
// and sets the filter rules of the `sidecar.*` categories (and the default one) from
// SIDECAR_LOG_LEVEL. QT_LOGGING_RULES, evaluated after these rules, still overrides them.
//
// Thread: the handler may run on any thread; each line is written with one fwrite.

#include <QLoggingCategory>
#include <QString>
#include <QtGlobal>

namespace sidecar::daemon {

Q_DECLARE_LOGGING_CATEGORY(lcServer) // "sidecar.server": the daemon shell (config, startup, signals)

// `level` is debug | info | warning | error (case-insensitive; anything else means info).
// Returns the handler it replaced, so tests can put it back.
QtMessageHandler installLogging(const QString &level);

} // namespace sidecar::daemon
