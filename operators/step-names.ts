/** The built-in steps of every sync, in the order they run (pipeline/steps.ts composes them). Each one always runs. */
export const STEP_NAMES = ['classify', 'filterTriggers', 'composeMessage', 'routeTopic', 'encodeValue', 'setKeyPartitionHeaders', 'handleRowErrors'] as const
export type StepName = (typeof STEP_NAMES)[number]
