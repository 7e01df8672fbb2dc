/**
 * Run code in a notebook's kernel and turn its messages into reducer actions.
 */

import { Kernel, KernelMessage } from '@jupyterlab/services';

import { isKernelPayload, MIME_TYPE } from './protocol';
import { Action } from './state';

/**
 * Execute `code` (store_history false) and report every relevant message as an Action.
 *
 * Resolves when the kernel has replied and all output has arrived; never rejects: a lost
 * kernel is reported as a 'transport-error' action. `now` gives the actions' times.
 */
export async function executeWithProgress(
  kernel: Kernel.IKernelConnection,
  code: string,
  dispatch: (action: Action) => void,
  now: () => number = Date.now
): Promise<void> {
  let future: Kernel.IShellFuture<
    KernelMessage.IExecuteRequestMsg,
    KernelMessage.IExecuteReplyMsg
  >;
  try {
    future = kernel.requestExecute(
      { code, store_history: false, silent: false, allow_stdin: false },
      true
    );
  } catch (err) {
    dispatch({
      type: 'transport-error',
      kind: 'no-kernel',
      message: String((err as Error)?.message || err),
      at: now()
    });
    return;
  }
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    if (
      KernelMessage.isDisplayDataMsg(msg) ||
      KernelMessage.isUpdateDisplayDataMsg(msg) ||
      KernelMessage.isExecuteResultMsg(msg)
    ) {
      const payload = msg.content.data[MIME_TYPE];
      if (isKernelPayload(payload)) {
        dispatch({ type: 'payload', payload, at: now() });
      }
    } else if (KernelMessage.isExecuteInputMsg(msg)) {
      // The kernel took our request (it may have been busy with a cell until now).
      dispatch({ type: 'started', at: now() });
    } else if (KernelMessage.isStreamMsg(msg)) {
      dispatch({ type: 'stream', text: msg.content.text });
    } else if (KernelMessage.isErrorMsg(msg)) {
      dispatch({
        type: 'kernel-error',
        ename: msg.content.ename,
        evalue: msg.content.evalue,
        traceback: msg.content.traceback,
        at: now()
      });
    }
  };
  try {
    const reply = await future.done;
    const status = reply?.content?.status || 'ok';
    dispatch({
      type: 'done',
      status: status === 'aborted' ? 'abort' : status,
      at: now()
    });
  } catch (err) {
    // The future is disposed when the kernel restarts or dies mid-request.
    dispatch({
      type: 'transport-error',
      kind: 'kernel-lost',
      message: String((err as Error)?.message || err),
      at: now()
    });
  }
}
