"""Draw images/board.png: red circles and blue squares (some turned) on a white board."""

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent


def main(seed=21):
    rng = np.random.default_rng(seed)
    board = np.full((360, 480, 3), 255, np.uint8)
    for row in range(6):
        for col in range(8):
            cx, cy = 30 + col * 60 + int(rng.integers(-6, 7)), 30 + row * 60 + int(rng.integers(-6, 7))
            size = int(rng.integers(10, 21))
            if rng.random() < 0.5:
                cv2.circle(board, (cx, cy), size, (40, 40, 220), -1)  # BGR: red
            else:
                corners = cv2.boxPoints(((cx, cy), (2 * size - 2, 2 * size - 2), float(rng.integers(0, 45))))
                cv2.fillPoly(board, [corners.astype(np.int32)], (220, 60, 40))  # BGR: blue
    out = HERE / "images" / "board.png"
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), board)
    print("wrote", out.relative_to(HERE))


if __name__ == "__main__":
    main()
