/**
 * Run code in a notebook's kernel and feed its messages to a reducer.
 */

import { Kernel, KernelMessage } from '@jupyterlab/services';

import { isKernelPayload, MIME_TYPE } from './protocol';
import { Action } from './state';

/**
 * Execute `code` (store_history false) and report every relevant message as an Action.
 *
 * Resolves when the kernel has replied and all output has arrived; never rejects: a
 * transport problem is reported as a 'transport-error' action.
 */
export async function executeWithProgress(
  kernel: Kernel.IKernelConnection,
  code: string,
  dispatch: (action: Action) => void
): Promise<void> {
  let future: Kernel.IShellFuture<KernelMessage.IExecuteRequestMsg, KernelMessage.IExecuteReplyMsg>;
  try {
    future = kernel.requestExecute({ code, store_history: false, silent: false, allow_stdin: false }, true);
  } catch (err) {
    dispatch({ type: 'transport-error', kind: 'no-kernel', message: String((err as Error)?.message || err) });
    return;
  }
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    const type = msg.header.msg_type;
    if (type === 'display_data' || type === 'update_display_data' || type === 'execute_result') {
      const data = (msg.content as any).data || {};
      const payload = data[MIME_TYPE];
      if (isKernelPayload(payload)) {
        dispatch({ type: 'payload', payload });
      }
    } else if (type === 'stream') {
      const content = msg.content as KernelMessage.IStreamMsg['content'];
      dispatch({ type: 'stream', text: content.text });
    } else if (type === 'error') {
      const content = msg.content as KernelMessage.IErrorMsg['content'];
      dispatch({ type: 'kernel-error', ename: content.ename, evalue: content.evalue, traceback: content.traceback });
    }
  };
  try {
    const reply = await future.done;
    const status = (reply?.content?.status || 'ok') as 'ok' | 'error' | 'abort';
    dispatch({ type: 'done', status });
  } catch (err) {
    // The future is disposed when the kernel restarts or dies mid-request.
    dispatch({ type: 'transport-error', kind: 'interrupted', message: String((err as Error)?.message || err) });
  }
}
