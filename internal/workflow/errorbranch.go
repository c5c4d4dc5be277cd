package workflow

// The error branch (onErrorNextStepId): a step that fails for good — at
// once with onError "stop", after its last attempt with "retry" — sends
// the run to another step instead of failing it. The failed step's record
// stays in the run with its error, so the branch can read
// steps.<id>.error and steps.<id>.status.

// checkErrorLink validates a step's error branch like its other links.
func checkErrorLink(c *compiled, st Step, f string, p *problems) {
	if st.OnErrorNextStepID == "" {
		return
	}
	if _, ok := c.steps[st.OnErrorNextStepID]; !ok {
		p.add(f+".onErrorNextStepId", "names no step (%q)", st.OnErrorNextStepID)
	}
	if st.OnError == OnErrorContinue {
		p.add(f+".onErrorNextStepId", `applies with onError "stop" or "retry"; "continue" already goes on at nextStepId`)
	}
}

// onErrorBranch moves a run whose step failed for good to the step's error
// branch. Like onError "continue", a pure step's failure goes on inline;
// after a step with effects the segment ends so its record is committed.
func (s *Service) onErrorBranch(x *exec, cs *cstep) (outcome, bool) {
	x.cur, x.attempt = cs.OnErrorNextStepID, 1
	return outcome{status: StatusRunning}, !cs.Type.pure()
}
