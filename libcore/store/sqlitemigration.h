#pragma once

// Versioned schema migrations for the SQLite backend, and the one-time import of a database
// written by the original Python package (mcp-state-sidecar 0.1.0).
//
// Migrations are SQL scripts embedded as Qt resources (":/migrations/NNN_name.sql", from
// resources/migrations/); PRAGMA user_version records the last one applied. Each is applied in
// its own BEGIN IMMEDIATE transaction that re-reads user_version first, so two processes opening
// the same new file at once apply it exactly once. A file whose user_version is newer than the
// newest script is refused: this binary would misread it.
//
// The original package's file (user_version 0, a kv_store table) is first copied beside itself
// (VACUUM INTO "<db>.bak-<UTC timestamp>"), then converted in one transaction: see migrate().
//
// Thread: runs on the writer thread, on its connection, before any operation is served.

#include <QString>

#include "protocol/result.h"
#include "store/sqlitedb.h"
#include "store/store.h"

namespace sidecar::store::sqlite {

struct MigrationReport
{
    int fromVersion = 0;
    int toVersion = 0;
    bool importedOriginal = false; // the original package's file was converted
    QString backupPath;            // its backup copy
    std::int64_t importedEntries = 0; // history entries written by the import (= its revision)
};

// The newest schema version this binary knows (the highest NNN among the embedded scripts).
int latestSchemaVersion();

// Switches the file to WAL and brings it to latestSchemaVersion(). Unavailable for a file of a
// newer schema, a file that is not a sidecar database, or any SQLite failure.
Result<MigrationReport> migrate(Connection &db, const StoreOptions &options);

} // namespace sidecar::store::sqlite
