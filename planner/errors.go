package planner

import "errors"

var (
	// ErrGeometry: the device's size does not match the SoC.
	ErrGeometry = errors.New("device does not match the soc")
	// ErrStale: the device changed since the plan was saved.
	ErrStale = errors.New("saved plan is stale")
	// ErrOtherBoard: the saved plan was made on another board.
	ErrOtherBoard = errors.New("saved plan is for another board")
	// ErrPlanFile: the plan file is corrupt, edited or not a plan.
	ErrPlanFile = errors.New("not a valid plan file")
)
