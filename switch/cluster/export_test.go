package cluster

// The stages of a crossing (deliver.go), for BenchmarkCrossing.
const (
	StageRouted    = stageRouted
	StagePublished = stagePublished
	StageReceived  = stageReceived
	StageHanded    = stageHanded
	Stages         = stageHanded + 1
)

// WatchCrossings has f called at each stage of every crossing of every node of this
// process, from the nodes' goroutines, until stop is called.
func WatchCrossings(f func(stage int)) (stop func()) {
	crossingStage.Store(&f)
	return func() { crossingStage.Store(nil) }
}

// What NATS can lose (deliver.go).
const (
	LossDelivery = lossDelivery
	LossAnswers  = lossAnswers
)

// Lose has every publish of what by the node named node vanish, as NATS core may lose it,
// while f returns true, until stop is called. f is called from the nodes' goroutines.
func Lose(f func(what int, node string) bool) (stop func()) {
	lossHook.Store(&f)
	return func() { lossHook.Store(nil) }
}

// Pending returns how many stanzas n sent to other nodes that were not answered yet.
func (n *Node) Pending() int {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	return n.npending
}
