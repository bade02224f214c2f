"""What touches the videos themselves: probe (yt-dlp metadata), filter, download (yt-dlp), cut
(ffmpeg) and frames (PyAV). Plain functions and classes, no Beam."""
