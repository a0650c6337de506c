import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../util/errors.js';

/** Where a command writes; the only place output happens is the CLI layer. */
export interface Io {
  out(text: string | Uint8Array): void;
  err(text: string): void;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options = Options> {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** `kdumpkit NAME ...` synopsis lines. */
  readonly usage: readonly string[];
  /** Paragraphs that teach: what it does, what the output means, examples. */
  readonly help: string;
  readonly options: O;
  /** Help text per option (long name → text), also used for the option list. */
  readonly optionHelp: Readonly<Record<keyof O & string, string>>;
  readonly minPositionals?: number;
  readonly maxPositionals?: number;
  run(args: ParsedArgs<O>, io: Io): Promise<number>;
}

export interface ParsedArgs<O extends Options> {
  readonly values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { multiple: true } ? string[] : string };
  readonly positionals: readonly string[];
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export function parseCommandArgs<O extends Options>(spec: CommandSpec<O>, argv: readonly string[]): ParsedArgs<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: spec.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${spec.name}: ${(e as Error).message.replace(/\. To specify a positional.*$/s, '')}`, `Run 'kdumpkit ${spec.name} --help'.`);
  }
  const n = parsed.positionals.length;
  if (!(parsed.values as { help?: boolean }).help) {
    if (spec.minPositionals !== undefined && n < spec.minPositionals) {
      throw new UsageError(`${spec.name}: missing argument`, `Usage: ${spec.usage.map((u) => 'kdumpkit ' + u).join(' | ')}`);
    }
    if (spec.maxPositionals !== undefined && n > spec.maxPositionals) {
      throw new UsageError(`${spec.name}: unexpected argument '${parsed.positionals[spec.maxPositionals]}'`, `Usage: ${spec.usage.map((u) => 'kdumpkit ' + u).join(' | ')}`);
    }
  }
  return parsed as unknown as ParsedArgs<O>;
}

export function renderCommandHelp(spec: CommandSpec): string {
  const lines = ['Usage:', ...spec.usage.map((u) => `  kdumpkit ${u}`), '', spec.help.trim(), '', 'Options:'];
  for (const [name, def] of Object.entries(spec.options)) {
    const flag = `${def.short ? `-${def.short}, ` : '    '}--${name}${def.type === 'string' ? ' VALUE' : ''}`;
    const text = (spec.optionHelp as Record<string, string>)[name] ?? '';
    lines.push(`  ${flag.padEnd(26)}${text}`);
  }
  return lines.join('\n') + '\n';
}
