package registry

// SessionLocks returns the number of upload-session locks the registry
// holds, for tests that check requests leave none behind.
func (reg *Registry) SessionLocks() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return len(reg.sessions)
}

// UploadsInFlight returns the number of upload requests admitted and not
// yet done.
func (reg *Registry) UploadsInFlight() int {
	reg.uploads.mu.Lock()
	defer reg.uploads.mu.Unlock()
	return reg.uploads.total
}
