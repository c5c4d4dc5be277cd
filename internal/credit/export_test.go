package credit

// Crash stops the node's lease flusher and forgets its leases without
// giving anything back, as a node that dies does.
func (l *Limits) Crash() {
	q := l.leases
	q.mu.Lock()
	stop, done, running := q.stop, q.done, q.running
	q.running, q.closed = false, true
	q.leases = map[leaseKey][]*lease{}
	q.mu.Unlock()
	if running {
		close(stop)
		<-done
	}
}
