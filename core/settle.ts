/** Waiting with a bound, for shutdowns that must not hang on a peer that is down. */

/** Whether `p` settled (fulfilled) within `ms`; the timer does not keep the process alive. */
export async function settlesWithin(ms: number, p: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms).unref()))
  try {
    return await Promise.race([p.then(() => true), timedOut])
  } finally {
    clearTimeout(timer)
  }
}
