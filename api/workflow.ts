/**
 * Explicit state machines for onboarding workflows. A transition names the
 * states it may start from; asking for any other answers 409
 * `invalid_transition` with the current state and the steps allowed from it,
 * so a client can show what to do next.
 */
import { AppError } from './errors.js'

export type Transitions<S extends string, T extends string> = Record<T, { from: readonly S[]; to: S }>

export class Workflow<S extends string, T extends string> {
  constructor(
    readonly entity: string,
    readonly transitions: Transitions<S, T>,
  ) {}

  /** The transitions allowed from a state, in declaration order. */
  allowed(state: S): T[] {
    return (Object.keys(this.transitions) as T[]).filter((t) => this.transitions[t].from.includes(state))
  }

  /** The state a transition leads to from `state`, or a 409 naming what is allowed instead. */
  next(state: S, transition: T): S {
    const rule = this.transitions[transition]
    if (!rule.from.includes(state)) {
      throw new AppError('invalid_transition', `a ${this.entity} in state ${state} cannot ${transition.replaceAll('_', ' ')}`, {
        state, allowed: this.allowed(state),
      })
    }
    return rule.to
  }
}
