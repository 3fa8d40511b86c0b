#include "keyedtablemodel.h"

#include <QDateTime>

#include <cmath>

namespace sidecar::inspector {

QString formatTimestamp(double epochSeconds)
{
    if (epochSeconds <= 0)
        return {};
    return QDateTime::fromMSecsSinceEpoch(qint64(std::llround(epochSeconds * 1000.0)))
        .toString(QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz"));
}

QString formatCountdown(double epochSeconds, double now)
{
    const double left = epochSeconds - now;
    if (left <= 0)
        return QObject::tr("lapsed");
    if (left < 60)
        return QObject::tr("%1 s").arg(std::floor(left * 10) / 10, 0, 'f', 1);
    const qint64 whole = qint64(left);
    auto two = [](qint64 v) { return QStringLiteral("%1").arg(v, 2, 10, QLatin1Char('0')); };
    if (whole < 3600)
        return QObject::tr("%1 m %2 s").arg(whole / 60).arg(two(whole % 60));
    if (whole < 86400)
        return QObject::tr("%1 h %2 m").arg(whole / 3600).arg(two(whole % 3600 / 60));
    return QObject::tr("%1 d %2 h").arg(whole / 86400).arg(two(whole % 86400 / 3600));
}

double nowEpochSeconds()
{
    return double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
}

QString elide(const QString &text, int maxChars)
{
    QString line = text;
    line.replace(QLatin1Char('\n'), QLatin1Char(' '));
    if (line.size() <= maxChars)
        return line;
    return line.left(maxChars) + QChar(0x2026);
}

} // namespace sidecar::inspector
