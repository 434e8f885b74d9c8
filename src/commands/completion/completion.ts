import type { Action } from '../context.js';
import { UsageError } from '../../errors.js';
import { bashScript, fishScript, zshScript } from './scripts.js';

/** `wks completion bash|zsh|fish`: print the completion script for the shell (stdout, nothing else). */
const completion: Action = async (ctx, args) => {
  const shell = args[0];
  let root = ctx.command;
  while (root?.parent) root = root.parent;
  if (!root) throw new UsageError('internal: the command tree is not available');
  const script = shell === 'bash' ? bashScript(root) : shell === 'zsh' ? zshScript(root) : fishScript(root);
  ctx.out.result({ shell, script }, (d, r) => r.line(d.script.trimEnd()));
};
export default completion;
