package reporting

// Redis keys. Every key names the slot it lives in with a hash tag, so that the keys a
// script or transaction touches together share a slot on Redis Cluster: everything
// about one reporter is tagged {u:<user id>}, everything about one server
// {g:<guild id>}, and each report record {<report id>}.

const keyPrefix = "rb:"

func userKey(userID, suffix string) string   { return keyPrefix + "{u:" + userID + "}:" + suffix }
func guildKey(guildID, suffix string) string { return keyPrefix + "{g:" + guildID + "}:" + suffix }
func reportKey(id string) string             { return keyPrefix + "{" + id + "}:report" }
func tokenKey(id string) string              { return keyPrefix + "{" + id + "}:token" }
func lockKey(id string) string               { return keyPrefix + "{" + id + "}:lock" }
func interactionKey(id string) string        { return keyPrefix + "{ia:" + id + "}" }

// queueDead is the stream of reports given up after a day of failed attempts, for
// every game. Each game's delivery queue has keys of its own (queue.go).
const queueDead = keyPrefix + "{queue}:dead"

// The keys of the single delivery queue of versions before 0.2.0, moved into the
// per-game queues at start-up (Pipeline.migrate).
const (
	legacyQueueStream = keyPrefix + "{queue}:stream"
	legacyQueueRetry  = keyPrefix + "{queue}:retry"
)
