/** The median (the mean of the middle two for an even count); NaN for none. */
export function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function min (values: readonly number[]): number {
  return values.length ? Math.min(...values) : NaN
}

export function max (values: readonly number[]): number {
  return values.length ? Math.max(...values) : NaN
}

/** A number for the table: `digits` after the point, or '–' when there is none. */
export function fmt (value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–'
}
