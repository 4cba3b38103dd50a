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
