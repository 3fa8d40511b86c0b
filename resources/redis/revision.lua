-- revision.lua: the store-wide revision (the last one handed out). The change feed reads it every
-- second, so that a change announcement lost while the subscriber link was down only delays a
-- wake-up. No arguments.

return currentRevision()
