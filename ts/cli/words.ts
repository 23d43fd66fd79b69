// Counts in words for command output: "1 link", "2 links", never "1 links".

/** `n` and the noun, singular for exactly one: counted(1, 'link') is "1 link", counted(3, 'copy', 'copies') "3 copies". */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** "1 time", "2 times": how often something happened. */
export function times(n: number): string {
  return counted(n, 'time')
}
