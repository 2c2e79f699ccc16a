--!include statuses
--!include complete
-- completeIfDone — the same completion rule, for when submit finishes after the workers did.
-- KEYS: counts, meta.  Returns the batch status.
return complete(KEYS[1], KEYS[2])
