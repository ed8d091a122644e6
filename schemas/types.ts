/** TypeBox helpers every contract file shares. */
import { Type, type TSchema } from '@sinclair/typebox'

/** The value, or null. */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
