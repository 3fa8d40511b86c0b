#pragma once

/* faultvfs: a fault-injecting SQLite VFS for tests only (never linked into a product target).
 *
 * Role: loaded into a process (LD_PRELOAD into the real server binary, or linked into a test),
 * its constructor registers the VFS "faultvfs" as SQLite's DEFAULT VFS, wrapping the real "unix"
 * VFS. Debian's QSQLITE plugin has no VFS option and opens every connection with the default
 * VFS of the one system libsqlite3.so.0 it shares with the project, so every QtSql connection of
 * the server goes through it. Without configuration it only passes calls through.
 *
 * 1. Power loss (FAULTVFS_POWERLOSS=1, read at load).
 *    The model: the disk keeps what was written to a file up to that file's last successful
 *    xSync; every write after it is lost. (Real disks may also keep some unsynced writes, in any
 *    order, torn at sector boundaries: this model is the strictest for durability - nothing
 *    unsynced survives - not the most adversarial for corruption.) Directory entries are durable
 *    at once: creating, deleting and renaming need no directory sync here.
 *
 *    The design, chosen because it can be checked by reading it: every write to a main database,
 *    its WAL or its rollback journal first appends an UNDO record to "<file>.unsynced" (the
 *    bytes about to be overwritten, clipped to the file's current size: bytes past the end have
 *    no pre-image), and only then writes the file. xTruncate to a smaller size records the bytes
 *    it cuts off the same way. The journal's header holds the file's size at its last sync and a
 *    generation; a successful xSync of the file starts a new generation (one atomic 32-byte
 *    pwrite of the header: records of older generations are dead from that instant) and then
 *    empties the journal. Journal and file are written under one mutex per file, so the journal
 *    is always at least as new as the file; the journal itself needs no fsync because the crash
 *    simulated is SIGKILL of the process (the page cache survives it) followed by
 *    faultvfs_power_loss().
 *
 *    faultvfs_power_loss(db) then applies every live record of each journal in REVERSE order
 *    and truncates the file to the synced size. Why that restores the synced content exactly:
 *    let F0 (size S) be the file at its last sync and op1..opn the writes and truncations since.
 *    Undoing opn first, then opn-1, ..., keeps this invariant: after undoing opk..opn the file's
 *    bytes [0, size before opk) equal those before opk. Undoing a write puts back the bytes it
 *    overwrote below the size it found (all it could have changed there); undoing a shrinking
 *    truncation puts back the bytes it cut; a growing one changed nothing below its old size.
 *    After op1 is undone, bytes [0, S) equal F0's, and the final truncation to S drops all that
 *    was appended. A record cut short by the SIGKILL (its end marker missing) belongs to a write
 *    that never reached the file, so it is ignored. A SIGKILL between a successful fsync and
 *    the new header leaves that sync's writes to be undone, as if the fsync had not returned:
 *    SQLite never saw it succeed either. A failed xSync (injected or real) keeps the journal.
 *    Writes never bypass xWrite (SQLite writes no page through its read-only mmap).
 *
 *    WAL mode: the -wal file is journaled like the database; the -shm file (the WAL index, in
 *    shared memory, never synced) is not: SQLite rebuilds it from the WAL when the first
 *    connection opens the database after a crash, so power loss deletes it, as rebooting a
 *    machine loses it. The WAL's frames carry salts and checksums: frames that survive without
 *    their commit frame, or after a rolled-back header, are ignored by that recovery.
 *
 *    A file first opened by this process starts from its journal when one is left (a process
 *    killed earlier, not yet followed by faultvfs_power_loss), else from its current content,
 *    which counts as synced. One process per database: journals are not shared across
 *    processes (the tests preload the VFS into the one server that writes the file).
 *
 * 2. Injected faults, on the main database, WAL and rollback journal (never on temporary files),
 *    set from the environment at load and from a control file that can change while the process
 *    runs (FAULTVFS_CONTROL=<path>; "key=value" lines; its keys override the environment's).
 *    The file is looked at (stat: inode, size, mtime) at most every 5 ms, by whichever VFS call
 *    comes next: every call that starts 5 ms after a change sees it. Replace it atomically
 *    (write a temporary file, rename it) so that no call reads half a file.
 *      write_fault=none|full|ioerr   FAULTVFS_WRITE_FAULT         xWrite fails: SQLITE_FULL /
 *                                                                 SQLITE_IOERR_WRITE, file untouched
 *      write_fault_after=N           FAULTVFS_WRITE_FAULT_AFTER   ... only after N more writes
 *                                                                 succeeded (counted from the load)
 *      read_fault=none|ioerr         FAULTVFS_READ_FAULT          xRead fails: SQLITE_IOERR_READ
 *      sync_fault=none|ioerr         FAULTVFS_SYNC_FAULT          xSync fails without syncing:
 *                                                                 SQLITE_IOERR_FSYNC
 *      sync_delay_ms=N               FAULTVFS_SYNC_DELAY_MS       every xSync first sleeps N ms
 *      target=all|db,wal,journal     FAULTVFS_TARGET              the files the faults hit
 *    FAULTVFS_STATS=<path>: counters (key=value lines, see faultvfs_stats) rewritten atomically
 *    whenever a fault is injected or delayed, the settings change, a file is opened or closed, on
 *    every 64th sync and at exit (not after a SIGKILL).
 *
 * Thread: every function may be called from any thread; the VFS serialises what it shares.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct faultvfs_stats
{
    long long opens;          /* main database, WAL and journal files opened */
    long long writes;         /* xWrite calls on those files */
    long long syncs;          /* successful xSync calls on those files */
    long long undo_records;   /* undo records journaled (FAULTVFS_POWERLOSS) */
    long long injected_full;  /* writes failed with SQLITE_FULL */
    long long injected_write; /* writes failed with SQLITE_IOERR_WRITE */
    long long injected_read;  /* reads failed with SQLITE_IOERR_READ */
    long long injected_sync;  /* syncs failed with SQLITE_IOERR_FSYNC */
    long long delayed_syncs;  /* syncs slowed by sync_delay_ms */
    long long reloads;        /* settings (re)loaded from the control file */
} faultvfs_stats;

/* Registers the VFS as the default (the constructor does it; calling it again does nothing).
 * Returns an SQLite result code. */
int faultvfs_install(void);

/* What faultvfs_power_loss() undid. */
typedef struct faultvfs_power_loss_report
{
    int files;                 /* files rolled back (journaled since their last sync) */
    long long records_undone;  /* undo records applied (overwritten bytes put back) */
    long long bytes_restored;  /* bytes those records put back */
    long long bytes_truncated; /* bytes appended since the last sync, cut off */
} faultvfs_power_loss_report;

/* Simulates the power loss described above on a database that no process has open (the server
 * was SIGKILLed): rolls back the unsynced writes of `db_path`, its -wal and its -journal, deletes
 * their journals and the -shm. Returns the number of files rolled back (0: nothing was
 * journaled), or -1 with a message in `error` (when not NULL); `report` (when not NULL) says
 * what was undone. */
int faultvfs_power_loss(const char *db_path, faultvfs_power_loss_report *report, char *error,
                        size_t error_size);

/* In-process control: `settings` ("key=value" lines, as in the control file; NULL or "" clears)
 * overrides the environment and the control file until cleared. Returns 0, or -1 for a line it
 * does not understand (nothing is changed then). */
int faultvfs_configure(const char *settings);

/* In-process: journal files opened from now on for power loss (1) or not (0). */
void faultvfs_set_power_loss_journal(int on);

void faultvfs_get_stats(faultvfs_stats *out);

#ifdef __cplusplus
}
#endif
