#pragma once

// The online backup of a SQLite database: a consistent copy taken while sidecars keep serving
// from the file (`mcp-state-sidecar --backup-to PATH`). The copy is made by SQLite itself
// (VACUUM INTO, in one read transaction: a snapshot of one moment, compacted), private to its
// owner, synced to disk, then opened again and checked (PRAGMA integrity_check) before it is
// reported. Restoring is copying the file back while no sidecar uses the database
// (docs/backup.md).
//
// Thread: any thread with a QCoreApplication; the connections are opened and closed inside.

#include <QString>

#include "protocol/result.h"

namespace sidecar::store::sqlite {

struct BackupSummary
{
    QString source;
    QString target;
    qint64 bytes = 0;
    int schemaVersion = 0; // PRAGMA user_version of the copy (0: the original package's schema)
    qint64 revision = 0;   // the store-wide revision the copy holds (0 for the original schema)
    qint64 keys = 0;       // rows, expired ones not yet swept included
    qint64 workflows = 0;
    qint64 leases = 0;
    qint64 sessions = 0;
    qint64 historyEntries = 0;
    qint64 elapsedMs = 0;

    // One line for the operator ("backed up ... to ...: 1.2 MiB, revision ..., ...").
    QString text() const;
};

// Copies the database at `source` (which must exist) to `target`. When `target` is an existing
// directory the copy is named there after the source and the time (state_sidecar-20261124-221500.db,
// then -2, -3... within one second); an existing file is never overwritten. InvalidArgument for a
// wrong path, Unavailable when SQLite or the disk fails (a partial copy is removed).
Result<BackupSummary> backupDatabase(const QString &source, const QString &target);

} // namespace sidecar::store::sqlite
